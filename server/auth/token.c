/* Tokens and API keys; see token.h. */
#include "server/auth/token.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#define KEY_ID_LEN 8
#define KEY_SECRET_LEN 32
#define KEY_CHECK_LEN 6

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void random_base62(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = base62[randombytes_uniform(62)];
}

static uint32_t crc32(const char *s, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)s[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void checksum(const char *s, size_t n, char out[KEY_CHECK_LEN])
{
	uint32_t c = crc32(s, n);

	for (int i = KEY_CHECK_LEN - 1; i >= 0; i--) {
		out[i] = base62[c % 62];
		c /= 62;
	}
}

void token_new_session(char out[TOKEN_MAX])
{
	uint8_t raw[32];
	size_t prefix = strlen(TOKEN_SESSION_PREFIX);

	randombytes_buf(raw, sizeof(raw));
	memcpy(out, TOKEN_SESSION_PREFIX, prefix);
	sodium_bin2base64(out + prefix, TOKEN_MAX - prefix, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void token_new_api_key(char ret_key[TOKEN_MAX], char ret_id[TOKEN_KEY_ID_MAX])
{
	size_t n = strlen(TOKEN_KEY_PREFIX);
	char *p = ret_key;

	memcpy(p, TOKEN_KEY_PREFIX, n);
	p += n;
	random_base62(p, KEY_ID_LEN);
	p += KEY_ID_LEN;
	*p++ = '_';
	random_base62(p, KEY_SECRET_LEN);
	p += KEY_SECRET_LEN;
	checksum(ret_key, (size_t)(p - ret_key), p);
	p += KEY_CHECK_LEN;
	*p = '\0';
	memcpy(ret_id, ret_key, n + KEY_ID_LEN);
	ret_id[n + KEY_ID_LEN] = '\0';
}

int token_api_key_id(const char *key, char ret_id[TOKEN_KEY_ID_MAX])
{
	size_t n = strlen(TOKEN_KEY_PREFIX);
	size_t want = n + KEY_ID_LEN + 1 + KEY_SECRET_LEN + KEY_CHECK_LEN;
	char check[KEY_CHECK_LEN];

	if (strlen(key) != want || strncmp(key, TOKEN_KEY_PREFIX, n) != 0 ||
	    key[n + KEY_ID_LEN] != '_')
		return -EINVAL;
	for (size_t i = n; i < want; i++)
		if (i != n + KEY_ID_LEN && !strchr(base62, key[i]))
			return -EINVAL;
	checksum(key, want - KEY_CHECK_LEN, check);
	if (memcmp(check, key + want - KEY_CHECK_LEN, KEY_CHECK_LEN) != 0)
		return -EINVAL;
	memcpy(ret_id, key, n + KEY_ID_LEN);
	ret_id[n + KEY_ID_LEN] = '\0';
	return 0;
}

void token_hash(const char *token, uint8_t out[TOKEN_HASH_SIZE])
{
	crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

void token_bytea(const uint8_t *p, size_t n, char *out)
{
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, 2 * n + 1, p, n);
}
