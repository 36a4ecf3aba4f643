/*
 * proto/proto.h - framing, decoding and validation of the wire protocol.
 *
 * nas.proto (compiled by protoc-c at build time into nas.pb-c.h) defines the
 * messages; this file is the only way gpunas turns bytes into messages and
 * back. nas_proto_decode never trusts its input: it bounds the frame size,
 * rejects a wrong protocol version, unknown bodies and enum values, strings
 * that are too long or carry control characters, numbers out of range and
 * non-finite floats, so that nasd and nas-worker act only on messages that
 * passed. The architecture inside a Job or Result is checked separately by
 * nas_proto_check_arch, because only the coordinator knows the space.
 *
 * No ZeroMQ here: the daemons move the packed bytes themselves.
 */
#ifndef NAS_PROTO_PROTO_H
#define NAS_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "proto/nas.pb-c.h"
#include "space/arch.h"
#include "space/space.h"

/* Bumped on any incompatible change of nas.proto. */
#define NAS_PROTO_VERSION 1u

/* Limits (bytes, counts) every decoded message is held to. */
#define NAS_PROTO_MAX_FRAME (1u << 20)   /* a whole Envelope */
#define NAS_PROTO_MAX_ID 128             /* worker ids, hosts, backends, versions */
#define NAS_PROTO_MAX_TEXT 4096          /* reasons, device names, checkpoint paths */
#define NAS_PROTO_MAX_JSON (256u << 10)  /* arch, recipe and option JSON */
#define NAS_PROTO_MAX_LATENCIES 8
#define NAS_PROTO_MAX_ATTEMPT 1000
#define NAS_PROTO_MAX_SLOTS 64
#define NAS_PROTO_MAX_BATCH 65536

typedef Nas__Envelope nas_envelope;

/* Decodes and validates one frame. On success *out is a message to release
 * with nas_proto_free. Errors: NAS_ERANGE (frame too large or a value out of
 * range), NAS_EPARSE (not a valid protobuf Envelope), NAS_EPROTO (wrong
 * protocol version, no body, unknown enum, missing required field). */
int nas_proto_decode(const void *data, size_t len, nas_envelope **out, nas_err *err);
void nas_proto_free(nas_envelope **env);

/* Validates an already built or decoded message (what decode calls). */
int nas_proto_validate(const nas_envelope *env, nas_err *err);

/* Packs env (its protocol_version is set to NAS_PROTO_VERSION) into a malloc'd
 * buffer; NAS_ERANGE if it would exceed NAS_PROTO_MAX_FRAME. */
int nas_proto_pack(nas_envelope *env, uint8_t **out, size_t *len, nas_err *err);

/* Name of the body ("hello", "job", ...), or "none". */
const char *nas_proto_body_name(const nas_envelope *env);

/* Parses an architecture from the wire: nas_arch_from_json, then (when space
 * is not NULL) nas_space_contains. The error names what failed. */
int nas_proto_check_arch(const char *json, const nas_space *space, nas_arch *out, nas_err *err);

#endif
