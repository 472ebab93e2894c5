//! The guest's network interfaces, configured by the agent itself (there is no `ip` in the
//! image): loopback up, and the first other interface up with [`GUEST_ADDRESS`]/24, the address
//! QEMU's user network gives its guest. The peer is on the same subnet, so no route is needed.
//!
//! Only ever called as PID 1 of a guest: this machine's interfaces are never touched.

use crate::facts::Facts;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The guest's address on QEMU's user network (its DHCP server's first lease).
pub const GUEST_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const GUEST_NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);

/// `struct ifreq`: an interface name, then a union (24 bytes on 64-bit Linux).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: IfReqData,
}

#[repr(C)]
#[derive(Clone, Copy)]
union IfReqData {
    addr: libc::sockaddr_in,
    flags: libc::c_short,
    size: [u8; 24],
}

impl IfReq {
    fn new(interface: &str) -> io::Result<Self> {
        let bytes = interface.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {interface:?}"),
            ));
        }
        let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
        for (dst, &src) in name.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        Ok(Self {
            name,
            data: IfReqData { size: [0; 24] },
        })
    }
}

/// Configure the guest's interfaces (listed in `sys_class_net`, normally `/sys/class/net`).
/// Returns the `net.*` facts and notes on what failed.
pub fn configure_guest(sys_class_net: &Path) -> (Facts, Vec<String>) {
    let mut facts = Facts::new();
    let mut notes = Vec::new();
    let sock = match control_socket() {
        Ok(s) => s,
        Err(e) => {
            notes.push(format!(
                "cannot open a socket to configure the network: {e}"
            ));
            return (facts, notes);
        }
    };
    if let Err(e) = set_up(&sock, "lo") {
        notes.push(format!("cannot bring lo up: {e}"));
    }
    let Some(interface) = first_interface(sys_class_net) else {
        facts.insert("net.interface".into(), "none".into());
        return (facts, notes);
    };
    let configured = set_address(&sock, &interface, libc::SIOCSIFADDR, GUEST_ADDRESS)
        .and_then(|_| set_address(&sock, &interface, libc::SIOCSIFNETMASK, GUEST_NETMASK))
        .and_then(|_| set_up(&sock, &interface));
    match configured {
        Ok(()) => {
            facts.insert("net.address".into(), format!("{GUEST_ADDRESS}/24"));
        }
        Err(e) => notes.push(format!("cannot configure {interface}: {e}")),
    }
    if let Some(driver) = std::fs::read_link(sys_class_net.join(&interface).join("device/driver"))
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
    {
        facts.insert("net.driver".into(), driver);
    }
    facts.insert("net.interface".into(), interface);
    (facts, notes)
}

/// The first interface by name other than loopback.
pub fn first_interface(sys_class_net: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(sys_class_net)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    names.sort();
    names.into_iter().next()
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes integer arguments only.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl(sock: &OwnedFd, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: `req` is a properly laid-out, initialised `struct ifreq` that lives for the whole
    // call; these interface requests read and write nothing beyond it.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, req as *mut IfReq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn set_address(
    sock: &OwnedFd,
    interface: &str,
    request: libc::c_ulong,
    addr: Ipv4Addr,
) -> io::Result<()> {
    let mut req = IfReq::new(interface)?;
    req.data.addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    ioctl(sock, request, &mut req)
}

fn set_up(sock: &OwnedFd, interface: &str) -> io::Result<()> {
    let mut req = IfReq::new(interface)?;
    ioctl(sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS has just written the flags member.
    let flags = unsafe { req.data.flags };
    req.data.flags = flags | libc::IFF_UP as libc::c_short;
    ioctl(sock, libc::SIOCSIFFLAGS, &mut req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert!(IfReq::new("eth0").is_ok());
        assert!(IfReq::new("").is_err());
        assert!(IfReq::new("a-name-far-too-long").is_err());
    }

    #[test]
    fn the_first_interface_other_than_lo() {
        let d = std::env::temp_dir().join(format!("hvbench-netif-{}", std::process::id()));
        for n in ["lo", "eth1", "eth0"] {
            std::fs::create_dir_all(d.join(n)).unwrap();
        }
        assert_eq!(first_interface(&d).as_deref(), Some("eth0"));
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(first_interface(&d), None);
    }
}
