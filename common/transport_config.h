/* transport_config — how this process talks HTTP: TLS or not, which CA
 * verifies its peers, its own certificate, and the limits of its HTTP
 * server.
 *
 * One setting per process decides the scheme: a BigFS cluster is all TLS
 * or all plain HTTP (addresses are HOST:PORT everywhere — worker
 * registrations, chunk locations, replicate sources — so the scheme cannot
 * travel with them). http_client uses https:// for every call of a TLS
 * process (an "http://" URL is sent as https://, plaintext is refused) and
 * http_server serves TLS when this process has a certificate.
 *
 * This is the one piece of process-wide state shared between modules, and
 * it is read-only after start: main() calls transport_config_init() once,
 * before any thread exists (pthread_create orders that write before every
 * read); afterwards everything here only reads. Without the call: plain
 * HTTP, the system's CA store, default limits. */
#ifndef BIGFS_TRANSPORT_CONFIG_H
#define BIGFS_TRANSPORT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Defaults of the HTTP server limits (see http_server.h). */
#define TRANSPORT_IDLE_TIMEOUT_S 30
#define TRANSPORT_REQUEST_TIMEOUT_S 60
#define TRANSPORT_PER_IP_LIMIT 512
#define TRANSPORT_CONN_LIMIT 4000

struct transport_settings {
	/* TLS. cert_file and key_file (PEM) together make this process serve
	 * https; either one alone is an error. ca_file (PEM, one or more CA
	 * certificates) verifies the peers this process calls; NULL: the
	 * system's CA store. tls: call peers over https even without a
	 * certificate of our own (a mount); a certificate implies it. */
	const char *cert_file;
	const char *key_file;
	const char *ca_file;
	bool tls;
	/* HTTP server limits; 0 keeps the default above. */
	unsigned idle_timeout_s;
	unsigned request_timeout_s;
	unsigned per_ip_limit;
	unsigned conn_limit;
};

/* The daemon flags and config-file keys read by transport_config_load,
 * for a known_keys[] list. */
#define TRANSPORT_CONFIG_KEYS                                                   \
	"tls-cert", "tls-key", "tls-ca", "http-idle-timeout", "http-request-timeout", \
		"http-per-ip-limit", "http-max-connections"

struct config;

/* transport_config_init from a daemon's configuration: --tls-cert FILE
 * --tls-key FILE --tls-ca FILE (TLS on when a certificate is given),
 * --http-idle-timeout S, --http-request-timeout S, --http-per-ip-limit N,
 * --http-max-connections N. Same returns as transport_config_init (a bad
 * number is -EINVAL with its key in err). */
int transport_config_load(const struct config *cfg, char *err, size_t errlen);

/* Validate s and make it this process's setting. Reads the certificate
 * and key into memory and checks that they parse as PEM and belong
 * together, that the CA file holds a certificate, that libmicrohttpd can
 * serve TLS and libcurl can speak it. Call once, before threads start.
 * Returns 0, or -errno with a sentence for the user in err (nothing is
 * changed then). */
int transport_config_init(const struct transport_settings *s, char *err, size_t errlen);

/* True when every call goes over TLS. */
bool transport_tls(void);
/* "https" or "http": the scheme for URLs this process builds. */
const char *transport_scheme(void);
/* The CA file given, or NULL (the system's store). Borrowed, for the
 * process's lifetime. */
const char *transport_ca_file(void);
/* This process's certificate and key as NUL-terminated PEM text, or NULL
 * when it serves plain HTTP. Borrowed, for the process's lifetime. */
const char *transport_server_cert_pem(void);
const char *transport_server_key_pem(void);
/* The server limits in force (defaults where not set). */
unsigned transport_idle_timeout_s(void);
unsigned transport_request_timeout_s(void);
unsigned transport_per_ip_limit(void);
unsigned transport_conn_limit(void);

#endif
