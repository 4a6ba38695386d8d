/*
 * keymgr.h: the key manager process, which alone holds the TLS private key and signs for the
 * workers (privilege separation as Kore's keymgr and h2o's neverbleed do; docs/SECURITY.md).
 */
#ifndef ENTERPRISED_KEYMGR_H
#define ENTERPRISED_KEYMGR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "shm.h"

struct config;

/* A worker waits this long for a signature, ms; then the handshake fails (counted). */
#define KEYMGR_TIMEOUT_MS 500
/* After a timeout the worker fails handshakes at once for this long, ms, instead of blocking
 * its loop once per handshake while the master restarts the keymgr. */
#define KEYMGR_QUIET_MS 250
/* The largest operand: an 8192-bit RSA modulus, bytes. */
#define KEYMGR_MAX_DATA 1024

/* Operations a worker may ask for; nothing else is answered. */
enum keymgr_op {
	KEYMGR_OP_RSA_SIGN =
	    1, /* RSA private encryption; arg: RSA_PKCS1_PADDING or RSA_NO_PADDING */
	KEYMGR_OP_ECDSA_SIGN = 2 /* ECDSA over a digest of 1..64 bytes; answer: DER signature */
};

#define KEYMGR_MAGIC 0x4b4d4752u /* "KMGR" */

/* One request: one SOCK_SEQPACKET message of the header and len bytes of data. */
struct keymgr_request {
	uint32_t magic;
	uint32_t op;  /* enum keymgr_op */
	uint64_t seq; /* echoed in the answer: a late answer to an abandoned request is dropped */
	uint32_t key_id; /* the generation the worker's certificate belongs to */
	uint32_t arg;	 /* RSA padding mode */
	uint32_t len;	 /* bytes of data that follow */
	uint32_t reserved;
};

/* One answer: the header and len bytes (the signature); status 0, or -1 and len 0. */
struct keymgr_reply {
	uint64_t seq;
	int32_t status;
	uint32_t len;
};

/*
 * One generation's channels: a socketpair per worker index. The master keeps both ends for the
 * generation's life, so a keymgr restarted after a crash serves the same sockets and the
 * workers notice nothing but the requests that were lost (they time out). The master closes
 * its copies of the worker ends when it retires the generation: once those workers are gone
 * the keymgr reads end-of-file on every socket and exits.
 */
struct keymgr_chan {
	int n;			 /* sockets: the generation's worker count */
	int km[SHM_MAX_WORKERS]; /* keymgr ends */
	int wk[SHM_MAX_WORKERS]; /* worker ends */
};

/* What a worker gets: its socket and the key id to put in its requests. */
struct keymgr_end {
	int fd;
	uint32_t key_id;
};

/* Marks every descriptor of ch closed (-1). */
void keymgr_chan_init(struct keymgr_chan *ch);

/* Makes n (1..SHM_MAX_WORKERS) SOCK_SEQPACKET socketpairs. 0, or -1 with the reason in err
 * (nothing left open). */
int keymgr_chan_open(struct keymgr_chan *ch, int n, char *err, size_t errlen);

/* Closes the worker ends (the master's copies), keeping the keymgr ends. */
void keymgr_chan_close_workers(struct keymgr_chan *ch);

/* Closes every end that is still open. */
void keymgr_chan_close(struct keymgr_chan *ch);

/* Closes every descriptor of ch except keep (-1: none), in a child that needs none of them. */
void keymgr_chan_close_except(struct keymgr_chan *ch, int keep);

/*
 * Reads the private key of c->certkey (PEM, RSA or EC) and checks it matches cert. Returns the
 * key (the caller frees it), or NULL with "certkey PATH: reason" in err.
 */
EVP_PKEY *keymgr_key_load(const char *path, X509 *cert, char *err, size_t errlen);

/*
 * The keymgr loop: answers requests for key on the n sockets fds until every one reads
 * end-of-file, then returns 0 (-1 when poll fails). Requests are validated (size, magic, op,
 * key id, operand size for the key) and a bad one gets status -1; an answer the worker does
 * not read at once is dropped, so no worker can block the keymgr.
 */
int keymgr_serve(EVP_PKEY *key, uint32_t key_id, const int *fds, int n);

/*
 * The keymgr process: not dumpable, no core files, every other descriptor closed, the key of
 * c->certkey loaded and checked against the certificate of ssl (the master's certificate-only
 * context), then keymgr_serve. ready_fd (-1: none) gets "ok" or the error once the key is
 * loaded, for the master waiting to start a generation; then the keymgr's sandbox (sandbox.c,
 * violations reported at seccomp_report). Exits the process.
 */
_Noreturn void keymgr_main(const struct config *c, SSL_CTX *ssl, const struct keymgr_chan *ch,
			   uint32_t key_id, int ready_fd, _Atomic int32_t *seccomp_report);

/*
 * In a worker: gives ctx (holding the certificate only) a private key that is the
 * certificate's public key whose private operations go to the keymgr over end->fd, waiting at
 * most KEYMGR_TIMEOUT_MS (a failure fails the handshake and counts in shm->keymgr_failures).
 * Works for RSA (TLS 1.2 PKCS#1 and PSS, TLS 1.3 PSS) and ECDSA certificates. 0, or -1 with
 * the reason in err. What it allocates lives as long as the process.
 */
int keymgr_client_attach(SSL_CTX *ctx, const struct keymgr_end *end, struct shm_region *shm,
			 char *err, size_t errlen);

#endif
