//! Tag numbers and data types of installed headers (rpm 4.18's `rpmtag.h`),
//! only those the rpmdb writer and its indexes use.

pub const TYPE_CHAR: u32 = 1;
pub const TYPE_INT8: u32 = 2;
pub const TYPE_INT16: u32 = 3;
pub const TYPE_INT32: u32 = 4;
pub const TYPE_INT64: u32 = 5;
pub const TYPE_STRING: u32 = 6;
pub const TYPE_BIN: u32 = 7;
pub const TYPE_STRING_ARRAY: u32 = 8;
pub const TYPE_I18NSTRING: u32 = 9;

// Region tags.
pub const HEADER_IMAGE: u32 = 61;
pub const HEADER_SIGNATURES: u32 = 62;
pub const HEADER_IMMUTABLE: u32 = 63;
pub const HEADER_I18NTABLE: u32 = 100;

// Signature header tags (`RPMSIGTAG_*`).
pub const SIG_DSA: u32 = 267;
pub const SIG_RSA: u32 = 268;
pub const SIG_SHA1: u32 = 269;
pub const SIG_LONGSIZE: u32 = 270;
pub const SIG_LONGARCHIVESIZE: u32 = 271;
pub const SIG_SHA256: u32 = 273;
pub const SIG_FILESIGNATURES: u32 = 274;
pub const SIG_FILESIGNATURELENGTH: u32 = 275;
pub const SIG_VERITYSIGNATURES: u32 = 276;
pub const SIG_VERITYSIGNATUREALGO: u32 = 277;
pub const SIG_SIZE: u32 = 1000;
pub const SIG_PGP: u32 = 1002;
pub const SIG_MD5: u32 = 1004;
pub const SIG_GPG: u32 = 1005;
pub const SIG_PAYLOADSIZE: u32 = 1007;

// Main header tags the signature tags become (`RPMTAG_*`).
pub const SIGSIZE: u32 = 257;
pub const SIGPGP: u32 = 259;
pub const SIGMD5: u32 = 261;
pub const SIGGPG: u32 = 262;
pub const DSAHEADER: u32 = 267;
pub const RSAHEADER: u32 = 268;
pub const SHA1HEADER: u32 = 269;
pub const LONGSIGSIZE: u32 = 270;
pub const LONGARCHIVESIZE: u32 = 271;
pub const SHA256HEADER: u32 = 273;
pub const VERITYSIGNATURES: u32 = 276;
pub const VERITYSIGNATUREALGO: u32 = 277;
pub const FILESIGNATURES: u32 = 5090;
pub const FILESIGNATURELENGTH: u32 = 5091;

// Main header tags.
pub const NAME: u32 = 1000;
pub const VERSION: u32 = 1001;
pub const RELEASE: u32 = 1002;
pub const EPOCH: u32 = 1003;
pub const INSTALLTIME: u32 = 1008;
pub const GROUP: u32 = 1016;
pub const ARCH: u32 = 1022;
pub const OLDFILENAMES: u32 = 1027;
pub const FILESTATES: u32 = 1029;
pub const ARCHIVESIZE: u32 = 1046;
pub const PROVIDENAME: u32 = 1047;
pub const REQUIREFLAGS: u32 = 1048;
pub const REQUIRENAME: u32 = 1049;
pub const CONFLICTNAME: u32 = 1054;
pub const TRIGGERNAME: u32 = 1066;
pub const OBSOLETENAME: u32 = 1090;
pub const PREFIXES: u32 = 1098;
pub const INSTPREFIXES: u32 = 1099;
pub const BASENAMES: u32 = 1117;
pub const DIRNAMES: u32 = 1118;
pub const INSTALLCOLOR: u32 = 1127;
pub const INSTALLTID: u32 = 1128;
pub const RECOMMENDNAME: u32 = 5046;
pub const SUGGESTNAME: u32 = 5049;
pub const SUPPLEMENTNAME: u32 = 5052;
pub const ENHANCENAME: u32 = 5055;
pub const FILETRIGGERNAME: u32 = 5069;
pub const FILETRIGGERINDEX: u32 = 5070;
pub const TRANSFILETRIGGERNAME: u32 = 5079;
pub const TRANSFILETRIGGERINDEX: u32 = 5080;
