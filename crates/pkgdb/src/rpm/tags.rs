//! Tag numbers and data types of the rpm header format (rpm's `rpmtag.h`),
//! only those the reader uses or checks.

// Data types of header entries.
pub const TYPE_CHAR: u32 = 1;
pub const TYPE_INT8: u32 = 2;
pub const TYPE_INT16: u32 = 3;
pub const TYPE_INT32: u32 = 4;
pub const TYPE_INT64: u32 = 5;
pub const TYPE_STRING: u32 = 6;
pub const TYPE_BIN: u32 = 7;
pub const TYPE_STRING_ARRAY: u32 = 8;
pub const TYPE_I18NSTRING: u32 = 9;

pub fn type_name(ty: u32) -> &'static str {
    match ty {
        0 => "NULL",
        TYPE_CHAR => "CHAR",
        TYPE_INT8 => "INT8",
        TYPE_INT16 => "INT16",
        TYPE_INT32 => "INT32",
        TYPE_INT64 => "INT64",
        TYPE_STRING => "STRING",
        TYPE_BIN => "BIN",
        TYPE_STRING_ARRAY => "STRING_ARRAY",
        TYPE_I18NSTRING => "I18NSTRING",
        _ => "unknown type",
    }
}

// Region tags: the first entry of a header, describing the signed region.
pub const HEADER_IMAGE: u32 = 61;
pub const HEADER_SIGNATURES: u32 = 62;
pub const HEADER_IMMUTABLE: u32 = 63;
/// Tags below this number are private to the header format.
pub const HEADER_I18NTABLE: u32 = 100;

// Signature header tags.
pub const SIG_BADSHA1_1: u32 = 264;
pub const SIG_BADSHA1_2: u32 = 265;
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
pub const SIG_OPENPGP: u32 = 278;
pub const SIG_SHA3_256: u32 = 279;
pub const SIG_RESERVED: u32 = 999;
pub const SIG_SIZE: u32 = 1000;
pub const SIG_PGP: u32 = 1002;
pub const SIG_MD5: u32 = 1004;
pub const SIG_GPG: u32 = 1005;
pub const SIG_PAYLOADSIZE: u32 = 1007;
pub const SIG_RESERVEDSPACE: u32 = 1008;

// Main header tags.
pub const NAME: u32 = 1000;
pub const VERSION: u32 = 1001;
pub const RELEASE: u32 = 1002;
pub const EPOCH: u32 = 1003;
pub const SUMMARY: u32 = 1004;
pub const SIZE: u32 = 1009;
pub const LICENSE: u32 = 1014;
pub const ARCH: u32 = 1022;
pub const PREIN: u32 = 1023;
pub const POSTIN: u32 = 1024;
pub const PREUN: u32 = 1025;
pub const POSTUN: u32 = 1026;
pub const OLDFILENAMES: u32 = 1027;
pub const FILESIZES: u32 = 1028;
pub const FILEMODES: u32 = 1030;
pub const FILERDEVS: u32 = 1033;
pub const FILEMTIMES: u32 = 1034;
pub const FILEDIGESTS: u32 = 1035;
pub const FILELINKTOS: u32 = 1036;
pub const FILEFLAGS: u32 = 1037;
pub const FILEUSERNAME: u32 = 1039;
pub const FILEGROUPNAME: u32 = 1040;
pub const SOURCERPM: u32 = 1044;
pub const ARCHIVESIZE: u32 = 1046;
pub const PROVIDENAME: u32 = 1047;
pub const REQUIREFLAGS: u32 = 1048;
pub const REQUIRENAME: u32 = 1049;
pub const REQUIREVERSION: u32 = 1050;
pub const CONFLICTFLAGS: u32 = 1053;
pub const CONFLICTNAME: u32 = 1054;
pub const CONFLICTVERSION: u32 = 1055;
pub const TRIGGERSCRIPTS: u32 = 1065;
pub const TRIGGERNAME: u32 = 1066;
pub const TRIGGERVERSION: u32 = 1067;
pub const TRIGGERFLAGS: u32 = 1068;
pub const TRIGGERINDEX: u32 = 1069;
pub const VERIFYSCRIPT: u32 = 1079;
pub const PREINPROG: u32 = 1085;
pub const POSTINPROG: u32 = 1086;
pub const PREUNPROG: u32 = 1087;
pub const POSTUNPROG: u32 = 1088;
pub const OBSOLETENAME: u32 = 1090;
pub const VERIFYSCRIPTPROG: u32 = 1091;
pub const TRIGGERSCRIPTPROG: u32 = 1092;
pub const FILEDEVICES: u32 = 1095;
pub const FILEINODES: u32 = 1096;
pub const SOURCEPACKAGE: u32 = 1106;
pub const PROVIDEFLAGS: u32 = 1112;
pub const PROVIDEVERSION: u32 = 1113;
pub const OBSOLETEFLAGS: u32 = 1114;
pub const OBSOLETEVERSION: u32 = 1115;
pub const DIRINDEXES: u32 = 1116;
pub const BASENAMES: u32 = 1117;
pub const DIRNAMES: u32 = 1118;
pub const PAYLOADFORMAT: u32 = 1124;
pub const PAYLOADCOMPRESSOR: u32 = 1125;
pub const PRETRANS: u32 = 1151;
pub const POSTTRANS: u32 = 1152;
pub const PRETRANSPROG: u32 = 1153;
pub const POSTTRANSPROG: u32 = 1154;
pub const LONGFILESIZES: u32 = 5008;
pub const LONGSIZE: u32 = 5009;
pub const FILECAPS: u32 = 5010;
pub const FILEDIGESTALGO: u32 = 5011;
pub const PREINFLAGS: u32 = 5020;
pub const POSTINFLAGS: u32 = 5021;
pub const PREUNFLAGS: u32 = 5022;
pub const POSTUNFLAGS: u32 = 5023;
pub const PRETRANSFLAGS: u32 = 5024;
pub const POSTTRANSFLAGS: u32 = 5025;
pub const VERIFYSCRIPTFLAGS: u32 = 5026;
pub const TRIGGERSCRIPTFLAGS: u32 = 5027;
pub const RECOMMENDNAME: u32 = 5046;
pub const RECOMMENDVERSION: u32 = 5047;
pub const RECOMMENDFLAGS: u32 = 5048;
pub const SUGGESTNAME: u32 = 5049;
pub const SUGGESTVERSION: u32 = 5050;
pub const SUGGESTFLAGS: u32 = 5051;
pub const SUPPLEMENTNAME: u32 = 5052;
pub const SUPPLEMENTVERSION: u32 = 5053;
pub const SUPPLEMENTFLAGS: u32 = 5054;
pub const ENHANCENAME: u32 = 5055;
pub const ENHANCEVERSION: u32 = 5056;
pub const ENHANCEFLAGS: u32 = 5057;
pub const FILETRIGGERSCRIPTS: u32 = 5066;
pub const FILETRIGGERSCRIPTPROG: u32 = 5067;
pub const FILETRIGGERSCRIPTFLAGS: u32 = 5068;
pub const FILETRIGGERNAME: u32 = 5069;
pub const FILETRIGGERINDEX: u32 = 5070;
pub const FILETRIGGERVERSION: u32 = 5071;
pub const FILETRIGGERFLAGS: u32 = 5072;
pub const TRANSFILETRIGGERSCRIPTS: u32 = 5076;
pub const TRANSFILETRIGGERSCRIPTPROG: u32 = 5077;
pub const TRANSFILETRIGGERSCRIPTFLAGS: u32 = 5078;
pub const TRANSFILETRIGGERNAME: u32 = 5079;
pub const TRANSFILETRIGGERINDEX: u32 = 5080;
pub const TRANSFILETRIGGERVERSION: u32 = 5081;
pub const TRANSFILETRIGGERFLAGS: u32 = 5082;
pub const FILETRIGGERPRIORITIES: u32 = 5084;
pub const TRANSFILETRIGGERPRIORITIES: u32 = 5085;
pub const PAYLOADDIGEST: u32 = 5092;
pub const PAYLOADDIGESTALGO: u32 = 5093;
pub const PAYLOADDIGESTALT: u32 = 5097;
pub const PREUNTRANS: u32 = 5103;
pub const POSTUNTRANS: u32 = 5104;
pub const PREUNTRANSPROG: u32 = 5105;
pub const POSTUNTRANSPROG: u32 = 5106;
pub const PREUNTRANSFLAGS: u32 = 5107;
pub const POSTUNTRANSFLAGS: u32 = 5108;
/// rpm v6: size of the payload as stored (compressed).
pub const PAYLOADSIZE: u32 = 5112;
/// rpm v6: size of the uncompressed payload archive.
pub const PAYLOADSIZEALT: u32 = 5113;

/// What a signature-header tag must look like. `count: None` means any
/// count; `hex_len` is the length of a hex digest string.
pub struct SignatureTagRule {
    pub tag: u32,
    pub name: &'static str,
    pub ty: u32,
    pub count: Option<usize>,
    pub hex_len: Option<usize>,
}

const fn rule(tag: u32, name: &'static str, ty: u32, count: Option<usize>) -> SignatureTagRule {
    SignatureTagRule { tag, name, ty, count, hex_len: None }
}

const fn hex_rule(tag: u32, name: &'static str, hex_len: usize) -> SignatureTagRule {
    SignatureTagRule { tag, name, ty: TYPE_STRING, count: Some(1), hex_len: Some(hex_len) }
}

/// Every tag a signature header may carry. rpm's own table (`rpmvs.c`)
/// only checks the tags it verifies and silently ignores the rest; the
/// CVE-2021-20271 class of bugs came from tags it did not expect there,
/// so anything not in this list is refused (SECURITY.md 17).
pub const SIGNATURE_TAGS: &[SignatureTagRule] = &[
    rule(SIG_BADSHA1_1, "BADSHA1_1", TYPE_BIN, None),
    rule(SIG_BADSHA1_2, "BADSHA1_2", TYPE_BIN, None),
    rule(SIG_DSA, "DSA", TYPE_BIN, None),
    rule(SIG_RSA, "RSA", TYPE_BIN, None),
    hex_rule(SIG_SHA1, "SHA1", 40),
    rule(SIG_LONGSIZE, "LONGSIZE", TYPE_INT64, Some(1)),
    rule(SIG_LONGARCHIVESIZE, "LONGARCHIVESIZE", TYPE_INT64, Some(1)),
    hex_rule(SIG_SHA256, "SHA256", 64),
    rule(SIG_FILESIGNATURES, "FILESIGNATURES", TYPE_STRING_ARRAY, None),
    rule(SIG_FILESIGNATURELENGTH, "FILESIGNATURELENGTH", TYPE_INT32, Some(1)),
    rule(SIG_VERITYSIGNATURES, "VERITYSIGNATURES", TYPE_STRING_ARRAY, None),
    rule(SIG_VERITYSIGNATUREALGO, "VERITYSIGNATUREALGO", TYPE_INT32, Some(1)),
    rule(SIG_OPENPGP, "OPENPGP", TYPE_STRING_ARRAY, None),
    hex_rule(SIG_SHA3_256, "SHA3_256", 64),
    rule(SIG_RESERVED, "RESERVED", TYPE_BIN, None),
    rule(SIG_SIZE, "SIZE", TYPE_INT32, Some(1)),
    rule(SIG_PGP, "PGP", TYPE_BIN, None),
    rule(SIG_MD5, "MD5", TYPE_BIN, Some(16)),
    rule(SIG_GPG, "GPG", TYPE_BIN, None),
    rule(SIG_PAYLOADSIZE, "PAYLOADSIZE", TYPE_INT32, Some(1)),
    rule(SIG_RESERVEDSPACE, "RESERVEDSPACE", TYPE_BIN, None),
];

pub fn signature_tag_rule(tag: u32) -> Option<&'static SignatureTagRule> {
    SIGNATURE_TAGS.iter().find(|r| r.tag == tag)
}

/// A readable name for a main-header tag, for messages.
pub fn main_tag_name(tag: u32) -> Option<&'static str> {
    Some(match tag {
        HEADER_IMMUTABLE => "HEADERIMMUTABLE",
        HEADER_I18NTABLE => "HEADERI18NTABLE",
        NAME => "NAME",
        VERSION => "VERSION",
        RELEASE => "RELEASE",
        EPOCH => "EPOCH",
        SUMMARY => "SUMMARY",
        SIZE => "SIZE",
        LICENSE => "LICENSE",
        ARCH => "ARCH",
        PREIN => "PREIN",
        POSTIN => "POSTIN",
        PREUN => "PREUN",
        POSTUN => "POSTUN",
        OLDFILENAMES => "OLDFILENAMES",
        FILESIZES => "FILESIZES",
        FILEMODES => "FILEMODES",
        FILERDEVS => "FILERDEVS",
        FILEMTIMES => "FILEMTIMES",
        FILEDIGESTS => "FILEDIGESTS",
        FILELINKTOS => "FILELINKTOS",
        FILEFLAGS => "FILEFLAGS",
        FILEUSERNAME => "FILEUSERNAME",
        FILEGROUPNAME => "FILEGROUPNAME",
        SOURCERPM => "SOURCERPM",
        ARCHIVESIZE => "ARCHIVESIZE",
        PROVIDENAME => "PROVIDENAME",
        REQUIREFLAGS => "REQUIREFLAGS",
        REQUIRENAME => "REQUIRENAME",
        REQUIREVERSION => "REQUIREVERSION",
        CONFLICTFLAGS => "CONFLICTFLAGS",
        CONFLICTNAME => "CONFLICTNAME",
        CONFLICTVERSION => "CONFLICTVERSION",
        TRIGGERSCRIPTS => "TRIGGERSCRIPTS",
        TRIGGERNAME => "TRIGGERNAME",
        TRIGGERVERSION => "TRIGGERVERSION",
        TRIGGERFLAGS => "TRIGGERFLAGS",
        TRIGGERINDEX => "TRIGGERINDEX",
        VERIFYSCRIPT => "VERIFYSCRIPT",
        PREINPROG => "PREINPROG",
        POSTINPROG => "POSTINPROG",
        PREUNPROG => "PREUNPROG",
        POSTUNPROG => "POSTUNPROG",
        OBSOLETENAME => "OBSOLETENAME",
        VERIFYSCRIPTPROG => "VERIFYSCRIPTPROG",
        TRIGGERSCRIPTPROG => "TRIGGERSCRIPTPROG",
        FILEDEVICES => "FILEDEVICES",
        FILEINODES => "FILEINODES",
        SOURCEPACKAGE => "SOURCEPACKAGE",
        PROVIDEFLAGS => "PROVIDEFLAGS",
        PROVIDEVERSION => "PROVIDEVERSION",
        OBSOLETEFLAGS => "OBSOLETEFLAGS",
        OBSOLETEVERSION => "OBSOLETEVERSION",
        DIRINDEXES => "DIRINDEXES",
        BASENAMES => "BASENAMES",
        DIRNAMES => "DIRNAMES",
        PAYLOADFORMAT => "PAYLOADFORMAT",
        PAYLOADCOMPRESSOR => "PAYLOADCOMPRESSOR",
        PRETRANS => "PRETRANS",
        POSTTRANS => "POSTTRANS",
        PRETRANSPROG => "PRETRANSPROG",
        POSTTRANSPROG => "POSTTRANSPROG",
        LONGFILESIZES => "LONGFILESIZES",
        LONGSIZE => "LONGSIZE",
        FILECAPS => "FILECAPS",
        FILEDIGESTALGO => "FILEDIGESTALGO",
        PREINFLAGS => "PREINFLAGS",
        POSTINFLAGS => "POSTINFLAGS",
        PREUNFLAGS => "PREUNFLAGS",
        POSTUNFLAGS => "POSTUNFLAGS",
        PRETRANSFLAGS => "PRETRANSFLAGS",
        POSTTRANSFLAGS => "POSTTRANSFLAGS",
        VERIFYSCRIPTFLAGS => "VERIFYSCRIPTFLAGS",
        TRIGGERSCRIPTFLAGS => "TRIGGERSCRIPTFLAGS",
        RECOMMENDNAME => "RECOMMENDNAME",
        RECOMMENDVERSION => "RECOMMENDVERSION",
        RECOMMENDFLAGS => "RECOMMENDFLAGS",
        SUGGESTNAME => "SUGGESTNAME",
        SUGGESTVERSION => "SUGGESTVERSION",
        SUGGESTFLAGS => "SUGGESTFLAGS",
        SUPPLEMENTNAME => "SUPPLEMENTNAME",
        SUPPLEMENTVERSION => "SUPPLEMENTVERSION",
        SUPPLEMENTFLAGS => "SUPPLEMENTFLAGS",
        ENHANCENAME => "ENHANCENAME",
        ENHANCEVERSION => "ENHANCEVERSION",
        ENHANCEFLAGS => "ENHANCEFLAGS",
        FILETRIGGERSCRIPTS => "FILETRIGGERSCRIPTS",
        FILETRIGGERSCRIPTPROG => "FILETRIGGERSCRIPTPROG",
        FILETRIGGERSCRIPTFLAGS => "FILETRIGGERSCRIPTFLAGS",
        FILETRIGGERNAME => "FILETRIGGERNAME",
        FILETRIGGERINDEX => "FILETRIGGERINDEX",
        FILETRIGGERVERSION => "FILETRIGGERVERSION",
        FILETRIGGERFLAGS => "FILETRIGGERFLAGS",
        TRANSFILETRIGGERSCRIPTS => "TRANSFILETRIGGERSCRIPTS",
        TRANSFILETRIGGERSCRIPTPROG => "TRANSFILETRIGGERSCRIPTPROG",
        TRANSFILETRIGGERSCRIPTFLAGS => "TRANSFILETRIGGERSCRIPTFLAGS",
        TRANSFILETRIGGERNAME => "TRANSFILETRIGGERNAME",
        TRANSFILETRIGGERINDEX => "TRANSFILETRIGGERINDEX",
        TRANSFILETRIGGERVERSION => "TRANSFILETRIGGERVERSION",
        TRANSFILETRIGGERFLAGS => "TRANSFILETRIGGERFLAGS",
        FILETRIGGERPRIORITIES => "FILETRIGGERPRIORITIES",
        TRANSFILETRIGGERPRIORITIES => "TRANSFILETRIGGERPRIORITIES",
        PAYLOADDIGEST => "PAYLOADDIGEST",
        PAYLOADDIGESTALGO => "PAYLOADDIGESTALGO",
        PAYLOADDIGESTALT => "PAYLOADDIGESTALT",
        PREUNTRANS => "PREUNTRANS",
        POSTUNTRANS => "POSTUNTRANS",
        PREUNTRANSPROG => "PREUNTRANSPROG",
        POSTUNTRANSPROG => "POSTUNTRANSPROG",
        PREUNTRANSFLAGS => "PREUNTRANSFLAGS",
        POSTUNTRANSFLAGS => "POSTUNTRANSFLAGS",
        PAYLOADSIZE => "PAYLOADSIZE",
        PAYLOADSIZEALT => "PAYLOADSIZEALT",
        _ => return None,
    })
}
