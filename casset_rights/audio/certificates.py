"""The C2PA signing identity: a certificate chain and its private key.

The embedded default makes, on first start, a local root CA and a leaf certificate in
``data/c2pa`` (ES256 on P-256). The leaf carries what C2PA requires of a claim signer:
``digitalSignature`` key usage, not a CA, and acceptable extended key usages
(emailProtection and C2PA's documentSigning, 1.3.6.1.5.5.7.3.36); c2pa-rs refuses a leaf
without them at signing. Production names the chain and key files in settings
(``c2pa_cert_chain_file``, ``c2pa_key_file``) and the root verifiers trust
(``c2pa_trust_anchor_file``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from casset_rights.errors import InvalidInput
from casset_rights.filelock import exclusive

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ALGORITHM = "es256"


@dataclass(frozen=True)
class SigningIdentity:
    """PEM bytes: the chain (leaf first, root excluded), its key, and the trust anchor."""

    chain_pem: bytes
    key_pem: bytes
    anchor_pem: bytes
    algorithm: str = ALGORITHM


def load_identity(*, folder: Path, chain_file: Path | None, key_file: Path | None,
                  anchor_file: Path | None, organisation: str) -> SigningIdentity:
    """The configured identity, or the local one in ``folder`` (made on first use).

    Raises InvalidInput when only one of ``chain_file`` and ``key_file`` is set, or a
    named file is missing.
    """
    if chain_file or key_file:
        if not (chain_file and key_file and anchor_file):
            raise InvalidInput("CASSET_C2PA_CERT_CHAIN_FILE, CASSET_C2PA_KEY_FILE and "
                               "CASSET_C2PA_TRUST_ANCHOR_FILE go together")
        try:
            return SigningIdentity(chain_pem=chain_file.read_bytes(),
                                   key_pem=key_file.read_bytes(),
                                   anchor_pem=anchor_file.read_bytes())
        except FileNotFoundError as exc:
            raise InvalidInput(f"C2PA file missing: {exc.filename}") from None
    return local_identity(folder, organisation=organisation)


def local_identity(folder: Path, *, organisation: str) -> SigningIdentity:
    """The local CA and leaf in ``folder``, made when absent.

    Server workers start together and each loads the identity: the first to take the
    folder's lock (``.making``) makes all three files, and the others wait and read
    them. Unguarded, two could write the same temporary file (one then failed its
    start), or leave a key of one CA beside the chain of the other."""
    chain, key, root = folder / "chain.pem", folder / "signer.key", folder / "root.pem"
    paths = (chain, key, root)
    if not all(p.exists() for p in paths):
        folder.mkdir(parents=True, exist_ok=True)
        with exclusive(folder / ".making"):
            if not all(p.exists() for p in paths):
                made = make_local_ca(organisation)
                for path, data in ((key, made.key_pem), (root, made.anchor_pem),
                                   (chain, made.chain_pem)):
                    part = path.with_suffix(".part")
                    part.write_bytes(data)
                    part.chmod(0o600)
                    part.replace(path)
    return SigningIdentity(chain_pem=chain.read_bytes(), key_pem=key.read_bytes(),
                           anchor_pem=root.read_bytes())


def make_local_ca(organisation: str, *, years: int = 10) -> SigningIdentity:
    """A fresh root CA and a C2PA claim-signing leaf it issued."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                           x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} C2PA root")])
    root_cert = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                           x509.NameAttribute(NameOID.COMMON_NAME,
                                              f"{organisation} preview signer")])
    leaf_cert = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(root_name)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365 * years - 1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                              DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningIdentity(
        chain_pem=leaf_cert.public_bytes(pem) + root_cert.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()),
        anchor_pem=root_cert.public_bytes(pem))
