/*
 * keymgr.c: the key manager process and the workers' side of it (see keymgr.h).
 *
 * Threat: a worker parses every byte a client sends, so a worker is what an attacker would
 * own first; the private key is what must survive that. So the key lives in one process that
 * parses nothing from the network: the keymgr, forked by the master for each generation before
 * the workers. The master only reads the certificate (tls_new without the key), the keymgr
 * reads the key file itself, and a worker's SSL_CTX gets a "private key" that is the
 * certificate's public key whose private operation is a round trip to the keymgr. Kore's
 * keymgr and h2o's neverbleed do the same; here with one SOCK_SEQPACKET socketpair per worker
 * (message boundaries for free, and the keymgr knows which worker asks).
 *
 * The worker side plugs in below the TLS code with the legacy RSA_METHOD / EC_KEY_METHOD: an
 * RSA key whose priv_enc is forwarded (OpenSSL pads PKCS#1 or PSS itself and hands a padded
 * block with RSA_NO_PADDING, so TLS 1.2 and 1.3 signatures both reduce to it) and an EC key
 * whose sign is forwarded (ECDSA over the digest). OpenSSL 3 marks a key with a non-default
 * method "foreign" and keeps it on the legacy path, which is what makes this work; those calls
 * are deprecated, hence OPENSSL_SUPPRESS_DEPRECATED in this file only.
 *
 * The worker waits for the answer on its loop thread (as neverbleed does): a signature takes
 * the keymgr ~1 ms (RSA-2048), about what the worker would spend signing itself. It waits at
 * most KEYMGR_TIMEOUT_MS, then fails the handshake and, for KEYMGR_QUIET_MS, fails the next
 * ones at once rather than stalling its loop while the master restarts a dead keymgr.
 *
 * Residual risk, accepted: a compromised worker can still ask for signatures (and raw RSA
 * private operations) while it runs; it cannot read the key, and the oracle ends with it.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "keymgr.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "sandbox.h"

#define KEYMGR_MSG_MAX (sizeof(struct keymgr_request) + KEYMGR_MAX_DATA)
#define KEYMGR_REPLY_MAX (sizeof(struct keymgr_reply) + KEYMGR_MAX_DATA)
/* messages read from one socket before the next one gets its turn */
#define KEYMGR_BURST 8
#define KEYMGR_READY_MAX 512
#define KEYMGR_NICE -10

void
keymgr_chan_init(struct keymgr_chan *ch)
{
	int i;

	ch->n = 0;
	for (i = 0; i < SHM_MAX_WORKERS; i++)
		ch->km[i] = ch->wk[i] = -1;
}

int
keymgr_chan_open(struct keymgr_chan *ch, int n, char *err, size_t errlen)
{
	int i, sv[2];

	keymgr_chan_init(ch);
	if (n < 1 || n > SHM_MAX_WORKERS) {
		snprintf(err, errlen, "keymgr: %d workers is out of range", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
			snprintf(err, errlen, "keymgr: socketpair: %s", strerror(errno));
			keymgr_chan_close(ch);
			return -1;
		}
		ch->km[i] = sv[0];
		ch->wk[i] = sv[1];
		ch->n = i + 1;
	}
	return 0;
}

void
keymgr_chan_close_workers(struct keymgr_chan *ch)
{
	int i;

	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		if (ch->wk[i] >= 0)
			close(ch->wk[i]);
		ch->wk[i] = -1;
	}
}

void
keymgr_chan_close(struct keymgr_chan *ch)
{
	int i;

	keymgr_chan_close_workers(ch);
	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		if (ch->km[i] >= 0)
			close(ch->km[i]);
		ch->km[i] = -1;
	}
	ch->n = 0;
}

void
keymgr_chan_close_except(struct keymgr_chan *ch, int keep)
{
	int i;

	for (i = 0; i < SHM_MAX_WORKERS; i++) {
		if (ch->wk[i] >= 0 && ch->wk[i] != keep)
			close(ch->wk[i]);
		if (ch->km[i] >= 0 && ch->km[i] != keep)
			close(ch->km[i]);
	}
}

EVP_PKEY *
keymgr_key_load(const char *path, X509 *cert, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	FILE *f;
	int type;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "certkey %s: %s", path, strerror(errno));
		return NULL;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL) {
		snprintf(err, errlen, "certkey %s: not a PEM private key", path);
		goto fail;
	}
	type = EVP_PKEY_get_base_id(key);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		snprintf(err, errlen, "certkey %s: neither an RSA nor an EC key", path);
		goto fail;
	}
	if (cert == NULL || X509_check_private_key(cert, key) != 1) {
		snprintf(err, errlen, "certkey %s: does not match the certificate", path);
		goto fail;
	}
	ERR_clear_error();
	return key;
fail:
	ERR_clear_error();
	EVP_PKEY_free(key); /* frees NULL too; clears the private numbers */
	return NULL;
}

/* The keymgr's view of its key: the legacy object the operations take. */
struct keymgr_signer {
	RSA *rsa;
	EC_KEY *ec;
	uint32_t key_id;
};

/* Validates one request of len bytes and answers it into out; returns the answer's length. */
static size_t
keymgr_answer(const struct keymgr_signer *s, const uint8_t *msg, size_t len, uint8_t *out)
{
	struct keymgr_request rq;
	struct keymgr_reply rp = {0, -1, 0};
	const uint8_t *data = msg + sizeof(rq);
	uint8_t *sig = out + sizeof(rp);
	unsigned int siglen;
	int r;

	if (len < sizeof(rq))
		goto done;
	memcpy(&rq, msg, sizeof(rq));
	rp.seq = rq.seq;
	if (rq.magic != KEYMGR_MAGIC || rq.key_id != s->key_id || rq.len != len - sizeof(rq) ||
	    rq.len == 0 || rq.len > KEYMGR_MAX_DATA)
		goto done;
	if (rq.op == KEYMGR_OP_RSA_SIGN && s->rsa != NULL) {
		int size = RSA_size(s->rsa);

		if (size > KEYMGR_MAX_DATA)
			goto done;
		if (rq.arg == RSA_NO_PADDING	  ? (int)rq.len != size
		    : rq.arg == RSA_PKCS1_PADDING ? (int)rq.len > size - RSA_PKCS1_PADDING_SIZE
						  : 1)
			goto done;
		r = RSA_private_encrypt((int)rq.len, data, sig, s->rsa, (int)rq.arg);
		if (r > 0) {
			rp.status = 0;
			rp.len = (uint32_t)r;
		}
	} else if (rq.op == KEYMGR_OP_ECDSA_SIGN && s->ec != NULL) {
		if (rq.len > 64 || ECDSA_size(s->ec) > KEYMGR_MAX_DATA)
			goto done;
		if (ECDSA_sign(0, data, (int)rq.len, sig, &siglen, s->ec) == 1) {
			rp.status = 0;
			rp.len = siglen;
		}
	}
done:
	ERR_clear_error();
	memcpy(out, &rp, sizeof(rp));
	return sizeof(rp) + rp.len;
}

/* Reads what socket p holds (at most KEYMGR_BURST messages) and answers; 0 at end-of-file. */
static int
keymgr_serve_one(const struct keymgr_signer *s, struct pollfd *p, uint8_t *msg, uint8_t *out)
{
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;
	size_t alen;
	int i;

	for (i = 0; i < KEYMGR_BURST; i++) {
		iov.iov_base = msg;
		iov.iov_len = KEYMGR_MSG_MAX;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(p->fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : 0;
		/* 0 is end-of-file, or an empty message (a bad request) while the peer is there */
		if (n == 0 && (p->revents & POLLHUP))
			return 0;
		/* a message cut to the buffer, or carrying descriptors, is invalid: answer -1 */
		alen = keymgr_answer(
		    s, msg, (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? 0 : (size_t)n, out);
		(void)send(p->fd, out, alen, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	return 1;
}

int
keymgr_serve(EVP_PKEY *key, uint32_t key_id, const int *fds, int n)
{
	struct pollfd pfd[SHM_MAX_WORKERS];
	struct keymgr_signer s = {NULL, NULL, key_id};
	uint8_t *msg, *out;
	int i, open = 0, rc = 0;

	if (n < 0 || n > SHM_MAX_WORKERS)
		return -1;
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
		s.rsa = EVP_PKEY_get1_RSA(key);
	else
		s.ec = EVP_PKEY_get1_EC_KEY(key);
	msg = malloc(KEYMGR_MSG_MAX);
	out = malloc(KEYMGR_REPLY_MAX);
	if ((s.rsa == NULL && s.ec == NULL) || msg == NULL || out == NULL) {
		rc = -1;
		goto out;
	}
	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
		open += fds[i] >= 0;
	}
	while (open > 0) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if ((pfd[i].revents & POLLNVAL) ||
			    keymgr_serve_one(&s, &pfd[i], msg, out) == 0) {
				pfd[i].fd = -1; /* poll skips it from now on */
				open--;
			}
		}
	}
out:
	free(msg);
	free(out);
	RSA_free(s.rsa);
	EC_KEY_free(s.ec);
	return rc;
}

/* Closes every descriptor but stdin/out/err, the keymgr ends of ch and keep. */
static void
keymgr_close_others(const struct keymgr_chan *ch, int keep)
{
	int fds[1024], nfds = 0, fd, i, j, mine;
	struct dirent *de;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		for (fd = 3; fd < 1024; fd++)
			fds[nfds++] = fd;
	} else {
		while ((de = readdir(d)) != NULL && nfds < 1024) {
			fd = atoi(de->d_name);
			if (de->d_name[0] != '.' && fd != dirfd(d))
				fds[nfds++] = fd;
		}
		closedir(d);
	}
	for (i = 0; i < nfds; i++) {
		if (fds[i] <= 2 || fds[i] == keep)
			continue;
		for (mine = 0, j = 0; j < ch->n; j++)
			mine |= ch->km[j] == fds[i];
		if (!mine)
			close(fds[i]);
	}
}

/* Every handshake waits for the keymgr with a worker's loop blocked: it runs KEYMGR_NICE below
 * the master's priority, so a woken keymgr goes before the busy workers (docs/DECISIONS.md).
 * Relative, so a service started under `nice` keeps its place among the host's processes.
 * Refused without the privilege (CAP_SYS_NICE or RLIMIT_NICE): then it runs as the workers. */
static void
keymgr_boost(void)
{
	int prio;

	errno = 0;
	prio = getpriority(PRIO_PROCESS, 0);
	if (errno != 0)
		return;
	prio += KEYMGR_NICE;
	(void)setpriority(PRIO_PROCESS, 0, prio < -20 ? -20 : prio);
}

/* The keymgr has initialised: from here on its loop makes only poll, recvmsg, sendto, the
 * allocator's calls and exit (docs/SECURITY.md lists them). */
static void
keymgr_confine(const struct config *c, _Atomic int32_t *seccomp_report)
{
	char err[256];

	/* the smallest allow-list of all (sandbox.c): poll, recvmsg, sendto, getrandom, exit */
	if (sandbox_enter(SANDBOX_KEYMGR, c, seccomp_report, err, sizeof(err)) != 0) {
		log_error("%s", err);
		exit(1);
	}
}

static void
keymgr_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* the keymgr stops when its workers are gone (end-of-file on every socket), not on a
	 * signal: a draining worker may still finish a handshake */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

_Noreturn void
keymgr_main(const struct config *c, SSL_CTX *ssl, const struct keymgr_chan *ch, uint32_t key_id,
	    int ready_fd, _Atomic int32_t *seccomp_report)
{
	struct rlimit none = {0, 0};
	char err[KEYMGR_READY_MAX] = "";
	EVP_PKEY *key;
	int rc;

	log_init("keymgr");
	prctl(PR_SET_NAME, "keymgr", 0, 0, 0);
	/* no core file, no ptrace by the same user, no /proc/PID/mem: the key stays here */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	keymgr_boost();
	keymgr_signals();
	if (getppid() == 1)
		exit(1);
	keymgr_close_others(ch, ready_fd);

	key = keymgr_key_load(c->certkey, ssl != NULL ? SSL_CTX_get0_certificate(ssl) : NULL, err,
			      sizeof(err));
	if (ready_fd >= 0) {
		const char *msg = key != NULL ? "ok" : err;

		(void)!write(ready_fd, msg, strlen(msg));
		close(ready_fd);
	}
	if (key == NULL) {
		log_error("%s", err);
		exit(1);
	}
	keymgr_confine(c, seccomp_report);
	log_info("serving %d workers with the %s key of %s", ch->n,
		 EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "RSA" : "EC", c->certkey);
	rc = keymgr_serve(key, key_id, ch->km, ch->n);
	EVP_PKEY_free(key);
	if (rc != 0)
		log_error("poll: %s", strerror(errno));
	exit(rc == 0 ? 0 : 1);
}

/* ---- the worker side ---- */

/* A worker's link to the keymgr; found from the key through its ex_data slot 0 ("app data",
 * which OpenSSL reserves in every class for this use). Loop thread only. */
struct keymgr_client {
	int fd;
	uint32_t key_id;
	uint64_t seq;
	uint64_t quiet_until_ms; /* fail at once until then (after a timeout) */
	struct shm_region *shm;
	RSA_METHOD *rsa_meth;
	EC_KEY_METHOD *ec_meth;
};

static void
keymgr_client_failed(struct keymgr_client *kc, const char *why)
{
	if (kc->shm != NULL)
		atomic_fetch_add_explicit(&kc->shm->keymgr_failures, 1, memory_order_relaxed);
	if (why != NULL)
		log_warn("keymgr: %s; TLS handshakes fail for %d ms", why, KEYMGR_QUIET_MS);
}

/* Sends one request and waits for its answer (an older one is dropped). Returns the answer's
 * length in out (at most outcap bytes), or -1 (counted). */
static int
keymgr_call(struct keymgr_client *kc, uint32_t op, uint32_t arg, const uint8_t *in, size_t inlen,
	    uint8_t *out, size_t outcap)
{
	uint8_t msg[KEYMGR_MSG_MAX], rep[KEYMGR_REPLY_MAX];
	struct keymgr_request rq = {KEYMGR_MAGIC, op, ++kc->seq, kc->key_id, arg, 0, 0};
	struct keymgr_reply rp;
	struct pollfd p = {kc->fd, POLLIN, 0};
	uint64_t now = clock_mono_ms(), deadline = now + KEYMGR_TIMEOUT_MS;
	ssize_t n;

	if (now < kc->quiet_until_ms || inlen == 0 || inlen > KEYMGR_MAX_DATA) {
		keymgr_client_failed(kc, NULL);
		return -1;
	}
	rq.len = (uint32_t)inlen;
	memcpy(msg, &rq, sizeof(rq));
	memcpy(msg + sizeof(rq), in, inlen);
	/* the keymgr keeps up with a socket's few requests: a full buffer means it is gone */
	if (send(kc->fd, msg, sizeof(rq) + inlen, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		goto timeout;
	for (;;) {
		now = clock_mono_ms();
		if (now >= deadline)
			goto timeout;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue; /* timeout or EINTR: checked above */
		n = recv(kc->fd, rep, sizeof(rep), MSG_DONTWAIT);
		if (n == 0) /* every keymgr end closed: no answer will come */
			goto timeout;
		if (n < (ssize_t)sizeof(rp))
			continue;
		memcpy(&rp, rep, sizeof(rp));
		if (rp.seq != rq.seq)
			continue; /* the late answer of a request that timed out */
		if (rp.status != 0 || rp.len > outcap || rp.len != (size_t)n - sizeof(rp)) {
			keymgr_client_failed(kc, NULL);
			log_error("keymgr: refused a %s request",
				  op == KEYMGR_OP_RSA_SIGN ? "RSA" : "ECDSA");
			return -1;
		}
		memcpy(out, rep + sizeof(rp), rp.len);
		return (int)rp.len;
	}
timeout:
	kc->quiet_until_ms = clock_mono_ms() + KEYMGR_QUIET_MS;
	keymgr_client_failed(kc, "no answer");
	return -1;
}

static int
keymgr_rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	struct keymgr_client *kc = RSA_get_ex_data(rsa, 0);

	if (kc == NULL || flen <= 0)
		return -1;
	return keymgr_call(kc, KEYMGR_OP_RSA_SIGN, (uint32_t)padding, from, (size_t)flen, to,
			   (size_t)RSA_size(rsa));
}

/* No suite decrypts with the certificate's key (no static RSA key exchange, tls.c). */
static int
keymgr_rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	(void)flen, (void)from, (void)to, (void)rsa, (void)padding;
	return -1;
}

static int
keymgr_ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
	       unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	struct keymgr_client *kc = EC_KEY_get_ex_data(ec, 0);
	int n;

	(void)type, (void)kinv, (void)r;
	if (kc == NULL || dlen <= 0 ||
	    (n = keymgr_call(kc, KEYMGR_OP_ECDSA_SIGN, 0, dgst, (size_t)dlen, sig,
			     (size_t)ECDSA_size(ec))) < 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *
keymgr_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r,
		   EC_KEY *ec)
{
	unsigned char der[KEYMGR_MAX_DATA];
	const unsigned char *p = der;
	unsigned int len;

	if (ECDSA_size(ec) > (int)sizeof(der) ||
	    keymgr_ec_sign(0, dgst, dlen, der, &len, kinv, r, ec) != 1)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

/* The certificate's public key with the forwarding method; NULL with err. */
static EVP_PKEY *
keymgr_client_key(struct keymgr_client *kc, EVP_PKEY *pub, char *err, size_t errlen)
{
	EVP_PKEY *pk = EVP_PKEY_new();
	RSA *rsa = NULL;
	EC_KEY *ec = NULL;

	if (pk == NULL)
		goto fail;
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		if ((kc->rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())) == NULL ||
		    RSA_meth_set1_name(kc->rsa_meth, "enterprised keymgr") != 1 ||
		    RSA_meth_set_priv_enc(kc->rsa_meth, keymgr_rsa_priv_enc) != 1 ||
		    RSA_meth_set_priv_dec(kc->rsa_meth, keymgr_rsa_priv_dec) != 1 ||
		    (rsa = EVP_PKEY_get1_RSA(pub)) == NULL ||
		    RSA_set_method(rsa, kc->rsa_meth) != 1 || RSA_set_ex_data(rsa, 0, kc) != 1 ||
		    EVP_PKEY_assign_RSA(pk, rsa) != 1)
			goto fail;
	} else if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		if ((kc->ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) == NULL)
			goto fail;
		EC_KEY_METHOD_set_sign(kc->ec_meth, keymgr_ec_sign, NULL, keymgr_ec_sign_sig);
		if ((ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL ||
		    EC_KEY_set_method(ec, kc->ec_meth) != 1 || EC_KEY_set_ex_data(ec, 0, kc) != 1 ||
		    EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
			goto fail;
	} else {
		snprintf(err, errlen, "keymgr: the certificate's key is neither RSA nor EC");
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
fail:
	snprintf(err, errlen, "keymgr: cannot make the forwarding key");
	RSA_free(rsa);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	return NULL;
}

int
keymgr_client_attach(SSL_CTX *ctx, const struct keymgr_end *end, struct shm_region *shm, char *err,
		     size_t errlen)
{
	struct keymgr_client *kc;
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	EVP_PKEY *pub = cert != NULL ? X509_get0_pubkey(cert) : NULL, *pk;

	if (pub == NULL || end->fd < 0) {
		snprintf(err, errlen, "keymgr: no certificate or no socket");
		return -1;
	}
	if ((kc = calloc(1, sizeof(*kc))) == NULL) {
		snprintf(err, errlen, "keymgr: out of memory");
		return -1;
	}
	kc->fd = end->fd;
	kc->key_id = end->key_id;
	kc->shm = shm;
	/* a restarted worker must not take an answer meant for its predecessor */
	kc->seq = (uint64_t)getpid() << 32;
	if ((pk = keymgr_client_key(kc, pub, err, errlen)) == NULL)
		return -1; /* kc and its methods stay: a half-made key may point at them */
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		snprintf(err, errlen, "keymgr: the forwarding key does not match the certificate");
		ERR_clear_error();
		EVP_PKEY_free(pk);
		return -1;
	}
	EVP_PKEY_free(pk); /* the context holds its own reference */
	return 0;
}
