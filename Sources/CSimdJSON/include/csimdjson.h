// A narrow C interface over simdjson (Debian's libsimdjson, DOM API) that parses one JSON
// Lines record of an Engram import into flat C structs. No C++ exception ever crosses this
// boundary: failures are returned as a status and a message.
//
// Lifetimes: every pointer a parse hands out (strings, the vector, tags, meta values, the
// message) points into storage owned by the parser and stays valid until the next call on
// the same parser or until it is freed. A parser is not thread-safe: use one per thread.
#ifndef CSIMDJSON_H
#define CSIMDJSON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opaque handle to a reusable parser (a simdjson::dom::parser plus its buffers).
typedef struct csimdjson_parser csimdjson_parser;

/// UTF-8 text (validated), not NUL-terminated; it may contain NUL. `data` may be NULL when
/// `length` is 0.
typedef struct csimdjson_string {
    const char *data;
    size_t length;
} csimdjson_string;

/// How a time field (`time`, `expiresAt`, `validTo`) was given.
typedef enum csimdjson_time_kind {
    /// Missing or null.
    CSIMDJSON_TIME_ABSENT = 0,
    /// A JSON number: `number` holds it (epoch seconds).
    CSIMDJSON_TIME_NUMBER = 1,
    /// A JSON string: `string` holds its text, unparsed (ISO 8601 or epoch seconds).
    CSIMDJSON_TIME_STRING = 2,
} csimdjson_time_kind;

typedef struct csimdjson_time {
    csimdjson_time_kind kind;
    double number;
    csimdjson_string string;
} csimdjson_time;

typedef enum csimdjson_value_kind {
    CSIMDJSON_NULL = 0,
    CSIMDJSON_FALSE = 1,
    CSIMDJSON_TRUE = 2,
    CSIMDJSON_NUMBER = 3,
    CSIMDJSON_STRING = 4,
    CSIMDJSON_ARRAY = 5,
    CSIMDJSON_OBJECT = 6,
} csimdjson_value_kind;

/// One JSON value inside `meta`. The members of `meta` are listed in document order, depth
/// first: an ARRAY or OBJECT value is followed directly by its `count` children, each with
/// all of its own descendants.
typedef struct csimdjson_value {
    csimdjson_value_kind kind;
    /// The member name when the value belongs to an object (including `meta` itself), else
    /// empty.
    csimdjson_string key;
    /// STRING: the text.
    csimdjson_string string;
    /// NUMBER: the value (integers converted to the nearest double).
    double number;
    /// ARRAY, OBJECT: the number of direct children.
    size_t count;
} csimdjson_value;

/// One record. Absent and null fields read the same. When a member name occurs twice, the
/// first occurrence counts.
typedef struct csimdjson_record {
    int has_id;
    csimdjson_string id;
    /// Empty when absent.
    csimdjson_string text;
    int has_namespace;
    csimdjson_string namespace_name;
    /// Whether `vector` was given (possibly as an empty array).
    int has_vector;
    /// `vector_count` floats, each the JSON number rounded to the nearest double, then to the
    /// nearest float. An integer written as `-0` reads as +0 (simdjson reads it as the
    /// integer 0); `-0.0` keeps its sign.
    const float *vector;
    size_t vector_count;
    const csimdjson_string *tags;
    size_t tag_count;
    /// The members of the `meta` object, as described at csimdjson_value; none when absent.
    const csimdjson_value *meta;
    size_t meta_count;
    /// 0 when absent.
    double importance;
    csimdjson_time time;
    csimdjson_time expires_at;
    csimdjson_time valid_to;
} csimdjson_record;

typedef enum csimdjson_status {
    CSIMDJSON_OK = 0,
    /// The record is not valid JSON or does not have the shape of a memory.
    CSIMDJSON_INVALID = 1,
    /// Memory ran out (the record is not at fault).
    CSIMDJSON_NO_MEMORY = 2,
    /// A failure of simdjson or of this shim that should not happen.
    CSIMDJSON_INTERNAL = 3,
} csimdjson_status;

/// A parser that accepts at most `max_depth` nested arrays and objects (the record's own
/// object counts as one). Returns NULL when memory is exhausted. Free with
/// csimdjson_parser_free.
csimdjson_parser *csimdjson_parser_new(size_t max_depth);
void csimdjson_parser_free(csimdjson_parser *parser);

/// Parses the `length` bytes at `bytes` (one line without its newline; they are copied into
/// the parser's padded buffer, so they need no padding of their own) into `*out`.
///
/// Returns CSIMDJSON_OK, or another status with `*message` set (valid until the next call)
/// and `*out` unspecified. CSIMDJSON_INVALID messages:
/// - `malformed JSON (…)`: not one valid JSON document (this includes invalid UTF-8, nesting
///   deeper than `max_depth`, numbers outside the range of a double, and integers outside the
///   range of 64-bit integers);
/// - `record is not a JSON object`;
/// - `field 'x' has the wrong type`: a known field of another JSON type (`vector[3]` and
///   `tags[0]` name an element);
/// - `field 'vector[i]' holds N, which a 32-bit float cannot represent`: an element that
///   rounds to infinity, or to zero when it is not zero.
/// Members other than id, text, namespace, vector, tags, meta, time, importance, expiresAt and
/// validTo are ignored (but must be valid JSON).
csimdjson_status csimdjson_parse_record(csimdjson_parser *parser, const void *bytes, size_t length,
                                        csimdjson_record *out, const char **message);

/// Parses the `length` bytes at `bytes` as any one JSON document (a change-log line) into
/// `*values`, `*count`: the document's values in document order, depth first, as described at
/// csimdjson_value (the root first, with an empty key). Returns CSIMDJSON_OK, or another status
/// with `*message` set: CSIMDJSON_INVALID with `malformed JSON (…)` for a document that is not
/// valid JSON (or nests deeper than `max_depth`).
csimdjson_status csimdjson_parse_value(csimdjson_parser *parser, const void *bytes, size_t length,
                                       const csimdjson_value **values, size_t *count, const char **message);

/// Reads a list of decimal numbers separated by commas and optional spaces, the inside of
/// pgvector's text form `[0.1,-2,3e-1]` without its brackets, into `out` (room for `capacity`
/// floats), each correctly rounded as `strtof` would round it (fast_float's `from_chars`).
/// Returns the count read, or -1 when the text is malformed, a number is not finite as a
/// float (too large, `inf`, `nan`), or there are more than `capacity` numbers.
long csimdjson_parse_floats(const char *text, size_t length, float *out, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
