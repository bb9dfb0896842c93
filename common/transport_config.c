/* transport_config — the process's TLS setting and HTTP server limits
 * (transport_config.h).
 *
 * State: one static struct, written only by transport_config_init() in
 * main() before any thread starts and only read afterwards — the single
 * process-wide value shared between modules, by design read-only after
 * start, so it needs no lock. It owns the PEM text of the server's
 * certificate and key for the process's lifetime (libmicrohttpd is given
 * pointers to it).
 *
 * Does not: open connections or keep TLS sessions; http_client and
 * http_server do, reading this. Validation uses OpenSSL's PEM parser so a
 * bad file is named at start, not found by the first peer. */
#include "transport_config.h"
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEM_MAX (1 << 20)

static struct {
	bool tls;
	char *ca_file;
	char *cert_pem;
	char *key_pem;
	unsigned idle_timeout_s;
	unsigned request_timeout_s;
	unsigned per_ip_limit;
	unsigned conn_limit;
} tc = {
	.idle_timeout_s = TRANSPORT_IDLE_TIMEOUT_S,
	.request_timeout_s = TRANSPORT_REQUEST_TIMEOUT_S,
	.per_ip_limit = TRANSPORT_PER_IP_LIMIT,
	.conn_limit = TRANSPORT_CONN_LIMIT,
};

/* The whole of a small text file, NUL-terminated, in *ret (caller frees). */
static int read_small_file(const char *what, const char *path, char **ret, char *err,
			   size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(e));
		return -e;
	}
	char *buf = malloc(PEM_MAX + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, PEM_MAX + 1, f);
	int rerr = ferror(f) ? errno : 0;
	fclose(f);
	if (rerr || n == 0 || n > PEM_MAX) {
		snprintf(err, errlen, "cannot read the %s %s: %s", what, path,
			 rerr ? strerror(rerr) : n == 0 ? "the file is empty" : "larger than 1 MiB");
		free(buf);
		return rerr ? -rerr : -EINVAL;
	}
	buf[n] = '\0';
	*ret = buf;
	return 0;
}

/* OpenSSL's last error as text (or `fallback`). */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : fallback;
}

static int check_cert_and_key(const char *cert_file, const char *cert_pem, const char *key_file,
			      const char *key_pem, char *err, size_t errlen)
{
	int rc = -EINVAL;
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = NULL;
	if (!x) {
		snprintf(err, errlen, "the TLS certificate %s is not a PEM certificate (%s)",
			 cert_file, ssl_reason("no BEGIN CERTIFICATE block"));
		goto out_free;
	}
	k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	if (!k) {
		snprintf(err, errlen,
			 "the TLS key %s is not an unencrypted PEM private key (%s)", key_file,
			 ssl_reason("no BEGIN PRIVATE KEY block"));
		goto out_free;
	}
	if (X509_check_private_key(x, k) != 1) {
		snprintf(err, errlen, "the TLS key %s does not belong to the certificate %s",
			 key_file, cert_file);
		ERR_clear_error();
		goto out_free;
	}
	rc = 0;
out_free:
	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

static int check_ca(const char *ca_file, char *err, size_t errlen)
{
	char *pem = NULL;
	int rc = read_small_file("CA file", ca_file, &pem, err, errlen);
	if (rc)
		return rc;
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!x) {
		snprintf(err, errlen, "the CA file %s holds no PEM certificate (%s)", ca_file,
			 ssl_reason("no BEGIN CERTIFICATE block"));
		rc = -EINVAL;
	}
	X509_free(x);
	BIO_free(b);
	free(pem);
	return rc;
}

int transport_config_init(const struct transport_settings *s, char *err, size_t errlen)
{
	char *cert = NULL, *key = NULL, *ca = NULL;
	int rc;

	if (!s->cert_file != !s->key_file) {
		snprintf(err, errlen, "a TLS certificate needs its key: give both "
				      "--tls-cert FILE and --tls-key FILE, or neither");
		return -EINVAL;
	}
	bool tls = s->tls || s->cert_file;
	if (!tls && s->ca_file) {
		snprintf(err, errlen, "a CA file was given but TLS is off");
		return -EINVAL;
	}
	if (tls) {
		const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
		if (!(cv->features & CURL_VERSION_SSL)) {
			snprintf(err, errlen, "TLS asked for, but libcurl here has no TLS support");
			return -EPROTONOSUPPORT;
		}
	}
	if (s->cert_file) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "TLS asked for, but libmicrohttpd here was built "
					      "without TLS support");
			return -EPROTONOSUPPORT;
		}
		if ((rc = read_small_file("TLS certificate", s->cert_file, &cert, err, errlen)) ||
		    (rc = read_small_file("TLS key", s->key_file, &key, err, errlen)) ||
		    (rc = check_cert_and_key(s->cert_file, cert, s->key_file, key, err, errlen)))
			goto out_free;
	}
	if (s->ca_file) {
		if ((rc = check_ca(s->ca_file, err, errlen)))
			goto out_free;
		ca = strdup(s->ca_file);
		if (!ca) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out_free;
		}
	}
	tc.tls = tls;
	tc.cert_pem = cert;
	tc.key_pem = key;
	tc.ca_file = ca;
	if (s->idle_timeout_s)
		tc.idle_timeout_s = s->idle_timeout_s;
	if (s->request_timeout_s)
		tc.request_timeout_s = s->request_timeout_s;
	if (s->per_ip_limit)
		tc.per_ip_limit = s->per_ip_limit;
	if (s->conn_limit)
		tc.conn_limit = s->conn_limit;
	return 0;
out_free:
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	free(cert);
	free(ca);
	return rc;
}

int transport_config_load(const struct config *cfg, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		int64_t max;
	} limits[] = {
		{ "http-idle-timeout", 86400 },
		{ "http-request-timeout", 86400 },
		{ "http-per-ip-limit", 1000000 },
		{ "http-max-connections", 1000000 },
	};
	int64_t v[4];
	for (size_t i = 0; i < 4; i++) {
		const char *txt = config_get_str(cfg, limits[i].key, NULL);
		char *end;
		errno = 0;
		long long n = txt ? strtoll(txt, &end, 10) : 0;
		if (txt && (errno || end == txt || *end || n < 1 || n > limits[i].max)) {
			snprintf(err, errlen, "--%s %s: expected a number from 1 to %lld",
				 limits[i].key, txt, (long long)limits[i].max);
			return -EINVAL;
		}
		v[i] = n;
	}
	struct transport_settings s = {
		.cert_file = config_get_str(cfg, "tls-cert", NULL),
		.key_file = config_get_str(cfg, "tls-key", NULL),
		.ca_file = config_get_str(cfg, "tls-ca", NULL),
		.idle_timeout_s = (unsigned)v[0],
		.request_timeout_s = (unsigned)v[1],
		.per_ip_limit = (unsigned)v[2],
		.conn_limit = (unsigned)v[3],
	};
	return transport_config_init(&s, err, errlen);
}

bool transport_tls(void)
{
	return tc.tls;
}

const char *transport_scheme(void)
{
	return tc.tls ? "https" : "http";
}

const char *transport_ca_file(void)
{
	return tc.ca_file;
}

const char *transport_server_cert_pem(void)
{
	return tc.cert_pem;
}

const char *transport_server_key_pem(void)
{
	return tc.key_pem;
}

unsigned transport_idle_timeout_s(void)
{
	return tc.idle_timeout_s;
}

unsigned transport_request_timeout_s(void)
{
	return tc.request_timeout_s;
}

unsigned transport_per_ip_limit(void)
{
	return tc.per_ip_limit;
}

unsigned transport_conn_limit(void)
{
	return tc.conn_limit;
}
