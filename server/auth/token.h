/* Session tokens and API keys: how they look, how they are made and how
 * they are stored (only a SHA-256 of each is ever written down).
 *
 *   session token  gs_<43 characters of base64url: 32 random bytes>
 *   API key        gk_<8-character id>_<32 random base62><6-character checksum>
 *
 * The prefixes make a leaked secret recognisable (to people and to secret
 * scanners); an API key's public part "gk_<id>" names it in listings; the
 * checksum (CRC-32 of the rest) turns a mistyped key away without a
 * database lookup. Used by the auth module and its unit test.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TOKEN_SESSION_PREFIX "gs_"
#define TOKEN_KEY_PREFIX "gk_"
#define TOKEN_MAX 80
#define TOKEN_KEY_ID_MAX 16
#define TOKEN_HASH_SIZE 32

/* Writes a new session token into out (at least TOKEN_MAX bytes). */
void token_new_session(char out[TOKEN_MAX]);
/* Writes a new API key and its public id. */
void token_new_api_key(char ret_key[TOKEN_MAX], char ret_id[TOKEN_KEY_ID_MAX]);
/* Checks an API key's form and checksum and extracts its id; -EINVAL when
 * it is not a well-formed key. */
int token_api_key_id(const char *key, char ret_id[TOKEN_KEY_ID_MAX]);
/* SHA-256 of the token's text. */
void token_hash(const char *token, uint8_t out[TOKEN_HASH_SIZE]);
/* PostgreSQL's bytea text form, "\x" and hex; out holds 2 * n + 3 bytes. */
void token_bytea(const uint8_t *p, size_t n, char *out);
