#!/bin/sh
# make-certs.sh DIR [HOST...] — a local CA and a server certificate for a
# BigFS cluster with TLS (docs/api.md, "Transport: TLS and limits").
#
#   DIR/ca.pem, DIR/ca.key          the CA (made once; reused if present)
#   DIR/server.pem, DIR/server.key  a certificate signed by it, valid for
#                                   127.0.0.1, localhost and every HOST
#                                   (names or IP addresses)
#
# Give every machine of the cluster server.pem/server.key (master:
# --tls-cert/--tls-key, workers the same) and ca.pem (--tls-ca, and
# mount -o tls,cafile=ca.pem). Keys are mode 0600. Running it again keeps
# the CA and makes a new server certificate (e.g. for more hosts).
set -eu

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 DIR [HOST...]" >&2
	exit 2
fi
command -v openssl >/dev/null 2>&1 || {
	echo "$0: openssl is needed (Debian: apt-get install openssl)" >&2
	exit 1
}
dir=$1
shift
mkdir -p "$dir"
umask 077
days=825

if [ -s "$dir/ca.pem" ] && [ -s "$dir/ca.key" ]; then
	echo "using the CA in $dir/ca.pem"
else
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-subj "/CN=BigFS local CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	echo "made a CA: $dir/ca.pem"
fi

san="IP:127.0.0.1,DNS:localhost"
for h in "$@"; do
	case $h in
	*[!0-9.]*) case $h in *:*) san="$san,IP:$h" ;; *) san="$san,DNS:$h" ;; esac ;;
	*) san="$san,IP:$h" ;;
	esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=bigfs" \
	-keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
printf '%s\n' \
	"basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature,keyEncipherment" \
	"extendedKeyUsage=serverAuth,clientAuth" \
	"subjectAltName=$san" >"$tmp/ext.cnf"
openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
	-CAcreateserial -CAserial "$tmp/ca.srl" -days $days -sha256 \
	-extfile "$tmp/ext.cnf" -out "$tmp/server.pem" 2>/dev/null
mv "$tmp/server.key" "$dir/server.key"
mv "$tmp/server.pem" "$dir/server.pem"
chmod 600 "$dir/ca.key" "$dir/server.key"
chmod 644 "$dir/ca.pem" "$dir/server.pem"
echo "made $dir/server.pem for $san"
