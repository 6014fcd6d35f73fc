//! What a child is given, prepared in the parent before the clone: the
//! paths to try for its program (PATH looked up as `execvp` does), its
//! argv and environment as C strings, and the credentials of its `user`.
//! Also `program_problem`, the same lookup for `--check`. Plain safe code:
//! the child itself (`spawn.rs`) only reads what this made.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::SpawnError;
use crate::config::TaskSpec;

/// The credentials a child takes before exec, and what its environment
/// learns from the passwd entry.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// The user as the config names it.
    pub(super) user: String,
    pub(super) uid: libc::uid_t,
    pub(super) gid: libc::gid_t,
    pub(super) groups: Vec<libc::gid_t>,
    /// HOME, USER, LOGNAME and SHELL from the passwd entry.
    env: [(&'static str, std::ffi::OsString); 4],
}

/// Looks `user` (a name or a uid) up in the passwd and group databases.
///
/// Fails for an unknown user or a failed lookup.
pub(super) fn identity(user: &str) -> Result<Identity, SpawnError> {
    let found = match user.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Err(_) => nix::unistd::User::from_name(user),
    };
    let u = match found {
        Ok(Some(u)) => u,
        Ok(None) => return Err(SpawnError::fixed(format!("unknown user '{user}'"))),
        Err(e) => {
            return Err(SpawnError::fixed(format!(
                "cannot look up user '{user}': {}",
                e.desc()
            )));
        }
    };
    let name = CString::new(u.name.as_bytes())
        .map_err(|_| SpawnError::fixed(format!("unknown user '{user}'")))?;
    let groups = nix::unistd::getgrouplist(&name, u.gid)
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| vec![u.gid.as_raw()]);
    Ok(Identity {
        user: user.to_string(),
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        groups,
        env: [
            ("HOME", u.dir.into_os_string()),
            ("USER", u.name.clone().into()),
            ("LOGNAME", u.name.into()),
            ("SHELL", u.shell.into_os_string()),
        ],
    })
}

/// `bytes` as a C string; `what` names them when they hold a NUL.
pub(super) fn cstring(bytes: &[u8], what: &str) -> Result<CString, SpawnError> {
    CString::new(bytes)
        .map_err(|_| SpawnError::fixed(format!("cannot spawn: {what} contains a NUL byte")))
}

/// The paths to try for `program`: itself when it names a path, else each
/// entry of PATH (the task's own PATH if it sets one), as `execvp` does.
pub(super) fn candidates(program: &str, task: &TaskSpec) -> Result<Vec<CString>, SpawnError> {
    if program.contains('/') {
        return Ok(vec![cstring(program.as_bytes(), "the command")?]);
    }
    search_path(task)
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            let mut full = Vec::with_capacity(dir.len() + 1 + program.len());
            full.extend_from_slice(dir);
            full.push(b'/');
            full.extend_from_slice(program.as_bytes());
            cstring(&full, "PATH")
        })
        .collect()
}

/// The PATH a program without `/` is looked up in: the task's own, else
/// the supervisor's, else `/bin:/usr/bin`.
pub(super) fn search_path(task: &TaskSpec) -> Vec<u8> {
    match task.environment.get("PATH") {
        Some(p) => p.as_bytes().to_vec(),
        None => std::env::var_os("PATH")
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_else(|| b"/bin:/usr/bin".to_vec()),
    }
}

/// Why `task`'s program cannot be executed, when that is certain without
/// running it: not found on PATH (or at its path), or not executable.
/// For `--check`; the spawn itself finds out by trying.
pub fn program_problem(task: &TaskSpec) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let program = task.argv.first()?;
    let usable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = match &task.working_directory {
            Some(dir) if !program.starts_with('/') => dir.join(program),
            _ => Path::new(program).to_path_buf(),
        };
        return (!usable(&p))
            .then(|| format!("program {} not found or not executable", p.display()));
    }
    let path = search_path(task);
    let found = path.split(|&b| b == b':').any(|dir| {
        let dir = if dir.is_empty() { b".".as_slice() } else { dir };
        usable(&Path::new(OsStr::from_bytes(dir)).join(program))
    });
    (!found).then(|| {
        format!(
            "program '{program}' not found on PATH={}",
            String::from_utf8_lossy(&path)
        )
    })
}

/// The child's environment: the supervisor's, with HOME, USER, LOGNAME and
/// SHELL of the task's `user` in place of ours, and the task's own
/// variables over both.
pub(super) fn environment(
    task: &TaskSpec,
    id: Option<&Identity>,
) -> Result<Vec<CString>, SpawnError> {
    let mut env = Vec::new();
    let from_user = |k: &str| id.is_some_and(|i| i.env.iter().any(|(n, _)| *n == k));
    for (k, v) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && (task.environment.contains_key(k) || from_user(k))
        {
            continue;
        }
        env.push(pair(&k, &v)?);
    }
    for (k, v) in id.iter().flat_map(|i| i.env.iter()) {
        if !task.environment.contains_key(*k) {
            env.push(pair(OsStr::new(k), v)?);
        }
    }
    for (k, v) in &task.environment {
        env.push(pair(OsStr::new(k), OsStr::new(v))?);
    }
    Ok(env)
}

fn pair(k: &OsStr, v: &OsStr) -> Result<CString, SpawnError> {
    let mut s = Vec::with_capacity(k.len() + v.len() + 1);
    s.extend_from_slice(k.as_bytes());
    s.push(b'=');
    s.extend_from_slice(v.as_bytes());
    cstring(&s, "the environment")
}

/// The pointers of `strings`, then a null: an `argv` or `envp` array.
pub(super) fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}
