#!/usr/bin/env bash
# Makes a key and a self-signed certificate for each named host, for a local try-out of the network
# transport (docs/security.md), with Debian's openssl:
#   DIR/NAME.key.pem   the private key (EC P-256, PKCS#8, readable by its owner only)
#   DIR/NAME.cert.pem  a self-signed certificate for it (CN=NAME, valid for DAYS days)
#   DIR/NAME.pin       its pin, sha256/<base64 of the SHA-256 of the public key>, which peers configure
# and prints "NAME PIN" for each. Peers authenticate each other by these pins, not by a CA or a host name,
# so the certificates need no particular subject or alternative names.
#
# Usage: scripts/make-peer-keys.sh DIR NAME [NAME...]     (DAYS=365 by default; an existing key is kept)
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 DIR NAME [NAME...]" >&2
    exit 2
fi
command -v openssl >/dev/null || { echo "make-peer-keys: openssl not found (apt-get install -y openssl)." >&2; exit 1; }

dir="$1"; shift
days="${DAYS:-365}"
mkdir -p "${dir}"
for name in "$@"; do
    if ! [[ "${name}" =~ ^[A-Za-z0-9._-]{1,64}$ ]]; then
        echo "make-peer-keys: '${name}' is not a peer name (letters, digits, '.', '_', '-')." >&2
        exit 2
    fi
    key="${dir}/${name}.key.pem"
    cert="${dir}/${name}.cert.pem"
    if [ ! -f "${key}" ]; then
        (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "${key}" 2>/dev/null)
    fi
    # A new certificate on the same key keeps the same pin: renewing it changes nothing for the peers.
    openssl req -new -x509 -key "${key}" -out "${cert}" -days "${days}" -subj "/CN=${name}" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
        -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
    pin="sha256/$(openssl x509 -in "${cert}" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64 -A)"
    echo "${pin}" > "${dir}/${name}.pin"
    echo "${name} ${pin}"
done
