//! The lab's SSH keys: hvbench's own client key, and a host key per lab machine that hvbench
//! generated and pins in a known_hosts file of its own ([`super::machine::LabMachine::host_spec`]).

use super::machine::DUAL;
use crate::guest::cache::Cache;
use crate::{PlatformError, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The lab's SSH keys, generated once into `<cache>/lab/keys/`.
pub struct LabKeys {
    pub dir: PathBuf,
    pub client: PathBuf,
}

impl LabKeys {
    pub fn ensure(cache: &Cache) -> Result<LabKeys> {
        let dir = cache
            .dir("lab/keys")
            .map_err(PlatformError::io("cannot create the lab's key directory"))?;
        let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let keys = LabKeys {
            client: dir.join("client"),
            dir,
        };
        for path in [
            keys.client.clone(),
            keys.host_key("xen"),
            keys.host_key("kvm"),
            keys.host_key(DUAL),
        ] {
            if !path.exists() {
                let out = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "hvbench-lab", "-f"])
                    .arg(&path)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| {
                        PlatformError::unavailable(
                            format!("cannot run ssh-keygen: {e}"),
                            "apt-get install openssh-client",
                        )
                    })?;
                if !out.status.success() {
                    return Err(PlatformError::unavailable(
                        format!(
                            "ssh-keygen failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                        format!("remove {} and retry", keys.dir.display()),
                    ));
                }
            }
        }
        Ok(keys)
    }

    /// The private host key of lab machine `host` (`xen`, `kvm`, `dual`).
    pub(super) fn host_key(&self, host: &str) -> PathBuf {
        self.dir.join(format!("host-{host}"))
    }
}
