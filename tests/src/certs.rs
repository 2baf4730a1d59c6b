//! A throwaway PKI for TLS tests: a CA, server certificates for `127.0.0.1` and
//! `localhost` (valid, expired, and one for another host), a client certificate the CA
//! signed, and a second CA nobody trusts, all as PEM files in a temporary directory; and
//! bcrypt password hashes as servers' web configs take them.

use crate::{Result, binary};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, date_time_ymd,
};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use time::OffsetDateTime;

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    pub fn cert(&self) -> &str {
        self.cert.to_str().expect("temporary paths are UTF-8")
    }

    pub fn key(&self) -> &str {
        self.key.to_str().expect("temporary paths are UTF-8")
    }
}

/// The files of one test PKI; they go when it is dropped.
pub struct Pki {
    pub ca: PathBuf,
    /// For `127.0.0.1` and `localhost`, signed by `ca`.
    pub server: CertFiles,
    /// Like `server`, but expired in 2021.
    pub expired: CertFiles,
    /// Signed by `ca`, but for `other.example` only.
    pub wrong_host: CertFiles,
    /// A client certificate signed by `ca`.
    pub client: CertFiles,
    /// A client certificate signed by another CA.
    pub stranger: CertFiles,
    /// A CA that signed nothing the servers use.
    pub other_ca: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    dir: TempDir,
}

impl Pki {
    pub fn new() -> Result<Pki> {
        let dir = tempfile::Builder::new().prefix("tickwatch-pki-").tempdir()?;
        let d = dir.path();
        let (ca, issuer) = authority(d, "ca", "tickwatch test CA")?;
        let (other_ca, other_issuer) = authority(d, "other-ca", "another CA")?;
        let server_names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let server = leaf(d, "server", server_names.clone(), &issuer, Usage::Server, None)?;
        let (from, to) = (date_time_ymd(2020, 1, 1), date_time_ymd(2021, 1, 1));
        let expired = leaf(d, "expired", server_names, &issuer, Usage::Server, Some((from, to)))?;
        let wrong_host = leaf(d, "wrong-host", vec!["other.example".to_owned()], &issuer, Usage::Server, None)?;
        let client = leaf(d, "client", vec!["tickwatch-client".to_owned()], &issuer, Usage::Client, None)?;
        let stranger = leaf(d, "stranger", vec!["stranger".to_owned()], &other_issuer, Usage::Client, None)?;
        Ok(Pki { ca, server, expired, wrong_host, client, stranger, other_ca, issuer, dir })
    }

    /// Another server certificate like `server`, valid from now until `not_after`.
    pub fn server_until(&self, name: &str, not_after: OffsetDateTime) -> Result<CertFiles> {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let validity = Some((OffsetDateTime::now_utc(), not_after));
        leaf(self.dir.path(), name, names, &self.issuer, Usage::Server, validity)
    }

    /// `ca`, as a string for config files.
    pub fn ca(&self) -> &str {
        self.ca.to_str().expect("temporary paths are UTF-8")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

enum Usage {
    Server,
    Client,
}

fn authority(dir: &Path, name: &str, common_name: &str) -> Result<(PathBuf, Issuer<'static, KeyPair>)> {
    let key = KeyPair::generate().map_err(kit)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(kit)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, common_name);
    let cert = params.self_signed(&key).map_err(kit)?;
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, cert.pem())?;
    Ok((path, Issuer::new(params, key)))
}

fn leaf(
    dir: &Path,
    name: &str,
    names: Vec<String>,
    issuer: &Issuer<'static, KeyPair>,
    usage: Usage,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
) -> Result<CertFiles> {
    let key = KeyPair::generate().map_err(kit)?;
    let mut params = CertificateParams::new(names).map_err(kit)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![match usage {
        Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    if let Some((from, to)) = validity {
        params.not_before = from;
        params.not_after = to;
    }
    let cert = params.signed_by(&key, issuer).map_err(kit)?;
    let files = CertFiles { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&files.cert, cert.pem())?;
    std::fs::write(&files.key, key.serialize_pem())?;
    Ok(files)
}

fn kit(error: rcgen::Error) -> crate::KitError {
    crate::KitError(format!("cannot make test certificates: {error}"))
}

/// `htpasswd -nbBC 10 USER PASSWORD`'s hash (Apache's htpasswd, as operators make them).
pub fn bcrypt_hash(user: &str, password: &str) -> Result<String> {
    let out = std::process::Command::new(binary("htpasswd")?).args(["-nbBC", "10", user, password]).output()?;
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    match line.trim().split_once(':') {
        Some((_, hash)) if out.status.success() => Ok(hash.to_owned()),
        _ => Err(crate::KitError(format!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr)))),
    }
}
