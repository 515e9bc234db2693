//! File capabilities: rpm stores libcap's text form (`cap_net_raw=ep`);
//! the filesystem wants the `security.capability` xattr, a
//! `vfs_cap_data` revision 2 record. This is libcap's `cap_from_text`
//! followed by its `_fcaps_save`, the path rpm takes when it installs.

/// Capability names by number (Linux 5.9+, `CAP_LAST_CAP` = 40).
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// `all` means every capability this table knows, as libcap does with
/// the kernel's count.
const ALL: u64 = (1 << NAMES.len()) - 1;

const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    #[error("unknown capability `{0}`")]
    UnknownCapability(String),
    #[error("`{0}` is not a capability clause (expected `names=flags`, `+flags` or `-flags`)")]
    BadClause(String),
    #[error("unknown capability flag `{0}` (expected e, i or p)")]
    BadFlag(char),
    #[error("the effective set must be empty or cover the permitted and inheritable sets")]
    PartialEffective,
}

#[derive(Default)]
struct Sets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

/// Converts a text capability set to the binary `security.capability` value.
pub fn capability_xattr(text: &str) -> Result<Vec<u8>, CapsError> {
    let sets = parse(text)?;
    // libcap refuses an effective set that does not cover what it raises.
    if sets.effective != 0 && (sets.permitted | sets.inheritable) & !sets.effective != 0 {
        return Err(CapsError::PartialEffective);
    }
    let mut magic = VFS_CAP_REVISION_2;
    if sets.effective != 0 {
        magic |= VFS_CAP_FLAGS_EFFECTIVE;
    }
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&magic.to_le_bytes());
    for word in 0..2 {
        out.extend_from_slice(&((sets.permitted >> (32 * word)) as u32).to_le_bytes());
        out.extend_from_slice(&((sets.inheritable >> (32 * word)) as u32).to_le_bytes());
    }
    Ok(out)
}

fn capability(name: &str) -> Result<u64, CapsError> {
    let lower = name.to_ascii_lowercase();
    if let Some(i) = NAMES.iter().position(|n| *n == lower) {
        return Ok(1 << i);
    }
    match lower.parse::<u32>() {
        Ok(n) if (n as usize) < NAMES.len() => Ok(1 << n),
        _ => Err(CapsError::UnknownCapability(name.to_owned())),
    }
}

/// libcap's grammar: whitespace-separated clauses, each an optional
/// comma-separated list of names (empty or `all` meaning every one)
/// followed by one or more `=`, `+` or `-` with flags from `eip`.
fn parse(text: &str) -> Result<Sets, CapsError> {
    let mut sets = Sets::default();
    for clause in text.split_ascii_whitespace() {
        let bad = || CapsError::BadClause(clause.to_owned());
        let split = clause.find(['=', '+', '-']).ok_or_else(bad)?;
        let (names, mut actions) = clause.split_at(split);
        let list = if names.is_empty() || names.eq_ignore_ascii_case("all") {
            // An empty list is only meaningful with `=` (`=ep`, `=`).
            if names.is_empty() && !actions.starts_with('=') {
                return Err(bad());
            }
            ALL
        } else {
            names.split(',').try_fold(0, |acc, n| Ok::<_, CapsError>(acc | capability(n)?))?
        };
        while let Some(op) = actions.chars().next() {
            let rest = &actions[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let (flags, next) = rest.split_at(end);
            if op != '=' && flags.is_empty() {
                return Err(bad());
            }
            let (mut e, mut i, mut p) = (false, false, false);
            for f in flags.chars() {
                match f {
                    'e' => e = true,
                    'i' => i = true,
                    'p' => p = true,
                    other => return Err(CapsError::BadFlag(other)),
                }
            }
            let apply = |set: &mut u64, on: bool| match op {
                '=' => *set = if on { *set | list } else { *set & !list },
                '+' if on => *set |= list,
                '-' if on => *set &= !list,
                _ => {}
            };
            apply(&mut sets.effective, e);
            apply(&mut sets.inheritable, i);
            apply(&mut sets.permitted, p);
            actions = next;
        }
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> String {
        capability_xattr(text).expect(text).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_values_match_setcap() {
        // Values read back with `getfattr -e hex` after `setcap` (libcap 2.66).
        assert_eq!(hex("cap_net_raw=ep"), "0100000200200000000000000000000000000000");
        assert_eq!(hex("cap_sys_ptrace,cap_sys_admin=ep"), "0100000200002800000000000000000000000000");
        assert_eq!(hex("="), "0000000200000000000000000000000000000000");
        assert_eq!(hex("cap_net_raw=p"), "0000000200200000000000000000000000000000");
        assert_eq!(hex("all=ep"), "01000002ffffffff00000000ff01000000000000");
        assert_eq!(hex("=ep cap_setuid-ep"), "010000027fffffff00000000ff01000000000000");
        assert_eq!(hex("cap_bpf,cap_checkpoint_restore=eip"), "0100000200000000000000008001000080010000");
        assert_eq!(hex("cap_net_raw=i"), "0000000200000000002000000000000000000000");
        assert_eq!(hex("CAP_NET_RAW+ep"), hex("cap_net_raw=ep"));
    }

    #[test]
    fn bad_text_is_an_error() {
        for text in
            ["cap_bogus=ep", "cap_net_raw", "cap_net_raw=ex", "+ep", "cap_net_raw+", "cap_net_raw+ep cap_chown+p"]
        {
            assert!(capability_xattr(text).is_err(), "`{text}` accepted");
        }
    }
}
