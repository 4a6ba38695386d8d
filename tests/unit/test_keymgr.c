/*
 * test_keymgr.c: the keymgr loop (keymgr_serve) speaks to a hostile worker over a socketpair:
 * every malformed request (empty, short, oversized, wrong magic, key id, op, padding, operand
 * size, random bytes) gets a refusal and the loop keeps serving; a good request still gets a
 * correct signature afterwards; end-of-file ends the loop with 0.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "keymgr.h"

#define KEY_ID 7

/* The keymgr loop runs in a thread of the test, so the sanitizers see its memory and leaks. */
struct peer {
	int fd; /* the worker's end */
	int km; /* the keymgr's end */
	EVP_PKEY *key;
	int rc; /* keymgr_serve's result */
	pthread_t thread;
};

static void *
peer_run(void *arg)
{
	struct peer *p = arg;

	p->rc = keymgr_serve(p->key, KEY_ID, &p->km, 1);
	return NULL;
}

static void
peer_start(struct peer *p, EVP_PKEY *key)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	p->km = sv[0];
	p->fd = sv[1];
	p->key = key;
	p->rc = -2;
	assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

/* Closes the worker end; the loop must end by itself with 0. */
static void
peer_stop(struct peer *p)
{
	close(p->fd);
	assert_int_equal(pthread_join(p->thread, NULL), 0);
	assert_int_equal(p->rc, 0);
	close(p->km);
}

/* Sends len raw bytes and returns the answer's status (its seq in *seq, its data in out). */
static int
peer_call(struct peer *p, const void *msg, size_t len, uint64_t *seq, uint8_t *out, size_t *outlen)
{
	uint8_t rep[sizeof(struct keymgr_reply) + KEYMGR_MAX_DATA];
	struct keymgr_reply rp;
	ssize_t n;

	assert_int_equal(send(p->fd, msg, len, 0), (ssize_t)len);
	n = recv(p->fd, rep, sizeof(rep), 0);
	assert_true(n >= (ssize_t)sizeof(rp));
	memcpy(&rp, rep, sizeof(rp));
	assert_int_equal((size_t)n, sizeof(rp) + rp.len);
	if (seq != NULL)
		*seq = rp.seq;
	if (out != NULL) {
		memcpy(out, rep + sizeof(rp), rp.len);
		*outlen = rp.len;
	}
	return rp.status;
}

/* A request with a header of the given fields and len bytes of data (filled with 0x01). */
static size_t
request(uint8_t *buf, uint32_t op, uint32_t key_id, uint32_t arg, uint32_t hdr_len, size_t len)
{
	struct keymgr_request rq = {KEYMGR_MAGIC, op, 42, key_id, arg, hdr_len, 0};

	memcpy(buf, &rq, sizeof(rq));
	memset(buf + sizeof(rq), 0x01, len);
	return sizeof(rq) + len;
}

static EVP_PKEY *
rsa_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);

	assert_non_null(k);
	return k;
}

/* A good RSA_NO_PADDING request: the answer, raised to e, is the request again. */
static void
check_rsa_works(struct peer *p, EVP_PKEY *key)
{
	uint8_t buf[2048], out[KEYMGR_MAX_DATA], back[KEYMGR_MAX_DATA];
	size_t len, outlen = 0;
	RSA *rsa = EVP_PKEY_get1_RSA(key);
	int size = RSA_size(rsa);

	len =
	    request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_NO_PADDING, (uint32_t)size, (size_t)size);
	buf[sizeof(struct keymgr_request)] = 0x00; /* below the modulus */
	assert_int_equal(peer_call(p, buf, len, NULL, out, &outlen), 0);
	assert_int_equal((int)outlen, size);
	assert_int_equal(RSA_public_decrypt(size, out, back, rsa, RSA_NO_PADDING), size);
	assert_memory_equal(back, buf + sizeof(struct keymgr_request), (size_t)size);
	RSA_free(rsa);
}

static void
test_rsa_refuses_every_malformed_request_and_keeps_serving(void **state)
{
	EVP_PKEY *key = rsa_key();
	uint8_t buf[4096];
	struct peer p;
	uint64_t seq = 0;
	size_t len;

	(void)state;
	peer_start(&p, key);
	check_rsa_works(&p, key);
	/* empty, short */
	assert_int_equal(peer_call(&p, buf, 0, NULL, NULL, NULL), -1);
	assert_int_equal(peer_call(&p, "xy", 2, NULL, NULL, NULL), -1);
	/* wrong magic */
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_PKCS1_PADDING, 32, 32);
	buf[0] ^= 0xff;
	assert_int_equal(peer_call(&p, buf, len, &seq, NULL, NULL), -1);
	assert_int_equal(seq, 42);
	/* another generation's key, an unknown op, ECDSA on an RSA key */
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID + 1, RSA_PKCS1_PADDING, 32, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	len = request(buf, 99, KEY_ID, RSA_PKCS1_PADDING, 32, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	len = request(buf, KEYMGR_OP_ECDSA_SIGN, KEY_ID, 0, 32, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	/* padding modes TLS never uses (OAEP is for decryption) */
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_PKCS1_OAEP_PADDING, 32, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	/* length in the header differs from the message; zero; too long for the modulus */
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_PKCS1_PADDING, 64, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_PKCS1_PADDING, 0, 0);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_PKCS1_PADDING, 250, 250);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_NO_PADDING, 255, 255);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	/* a full-size block above the modulus: RSA itself refuses, the loop survives */
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_NO_PADDING, 256, 256);
	memset(buf + sizeof(struct keymgr_request), 0xff, 256);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	/* larger than any request: cut by the socket, refused */
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_NO_PADDING, 3000, 3000);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	/* the same good request still works */
	check_rsa_works(&p, key);
	peer_stop(&p);
	EVP_PKEY_free(key);
}

static void
test_random_bytes_never_crash_the_loop(void **state)
{
	EVP_PKEY *key = rsa_key();
	uint8_t buf[2048];
	struct peer p;
	size_t len;
	int i, status;

	(void)state;
	srandom(12345);
	peer_start(&p, key);
	for (i = 0; i < 2000; i++) {
		len = (size_t)(random() % (long)sizeof(buf));
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)random();
		if (i % 2 == 0 && len >= sizeof(struct keymgr_request)) {
			/* half of them with a plausible header, so the checks behind it run */
			len = request(buf, 1 + (uint32_t)(random() % 2), KEY_ID,
				      (uint32_t)(random() % 6), (uint32_t)(random() % 300),
				      len - sizeof(struct keymgr_request));
			buf[sizeof(struct keymgr_request)] = 0x00;
		}
		status = peer_call(&p, buf, len, NULL, NULL, NULL);
		assert_true(status == 0 || status == -1);
	}
	check_rsa_works(&p, key);
	peer_stop(&p);
	EVP_PKEY_free(key);
}

static void
test_ecdsa_signs_a_digest_and_refuses_rsa_ops(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	uint8_t buf[512], sig[KEYMGR_MAX_DATA];
	size_t len, siglen = 0;
	struct peer p;
	EC_KEY *ec;

	(void)state;
	assert_non_null(key);
	ec = EVP_PKEY_get1_EC_KEY(key);
	peer_start(&p, key);
	len = request(buf, KEYMGR_OP_ECDSA_SIGN, KEY_ID, 0, 32, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, sig, &siglen), 0);
	assert_int_equal(
	    ECDSA_verify(0, buf + sizeof(struct keymgr_request), 32, sig, (int)siglen, ec), 1);
	/* a digest longer than any hash, an RSA op on an EC key */
	len = request(buf, KEYMGR_OP_ECDSA_SIGN, KEY_ID, 0, 65, 65);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	len = request(buf, KEYMGR_OP_RSA_SIGN, KEY_ID, RSA_PKCS1_PADDING, 32, 32);
	assert_int_equal(peer_call(&p, buf, len, NULL, NULL, NULL), -1);
	peer_stop(&p);
	EC_KEY_free(ec);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rsa_refuses_every_malformed_request_and_keeps_serving),
	    cmocka_unit_test(test_random_bytes_never_crash_the_loop),
	    cmocka_unit_test(test_ecdsa_signs_a_digest_and_refuses_rsa_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
