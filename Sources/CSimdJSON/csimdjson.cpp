#include "csimdjson.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <fast_float/fast_float.h>
#include <simdjson.h>

// The DOM API, not On-Demand: simdjson's DOM parser dispatches at run time to the best
// kernel the CPU has (here AVX-512 or AVX2), while On-Demand is compiled into this file for
// the baseline x86-64 target (its portable "fallback" kernel) unless the package passes
// -march flags. A C++ prototype on this project's machine (AMD EPYC, 5 KB records with 384
// floats, one core) read ~120,000 records/s with the DOM and ~100,000 with On-Demand. The DOM
// also validates the whole line, including members that are ignored, as Foundation's
// JSONDecoder did.

namespace dom = simdjson::dom;

namespace {

/// Lines up to this size keep the parser's buffers allocated between calls; after a longer
/// line they are released (simdjson's DOM needs ~14 bytes of memory per input byte).
constexpr size_t kRetainedCapacity = 1 << 20;

/// Smallest magnitude that rounds to infinity as a float: halfway between FLT_MAX and 2^128.
constexpr double kFloatOverflow = 0x1.ffffffp127;

csimdjson_string view(std::string_view s) { return {s.data(), s.size()}; }

/// The known fields of a record, as bits of a "seen" mask.
enum Field : unsigned {
    kId = 1 << 0, kText = 1 << 1, kNamespace = 1 << 2, kVector = 1 << 3, kTags = 1 << 4,
    kMeta = 1 << 5, kTime = 1 << 6, kImportance = 1 << 7, kExpiresAt = 1 << 8, kValidTo = 1 << 9,
};

Field field_named(std::string_view key) {
    switch (key.size()) {
    case 2: if (key == "id") return kId; break;
    case 4:
        if (key == "text") return kText;
        if (key == "tags") return kTags;
        if (key == "meta") return kMeta;
        if (key == "time") return kTime;
        break;
    case 6: if (key == "vector") return kVector; break;
    case 7: if (key == "validTo") return kValidTo; break;
    case 9:
        if (key == "namespace") return kNamespace;
        if (key == "expiresAt") return kExpiresAt;
        break;
    case 10: if (key == "importance") return kImportance; break;
    }
    return Field(0);
}

/// Thrown inside the shim only (never across the C boundary) to stop at a bad record.
struct Invalid {
    std::string message;
};

[[noreturn]] void wrong_type(std::string_view field) {
    throw Invalid{"field '" + std::string(field) + "' has the wrong type"};
}

std::string element_name(const char *field, size_t index) {
    return std::string(field) + "[" + std::to_string(index) + "]";
}

std::string malformed(simdjson::error_code error) {
    if (error == simdjson::NUMBER_ERROR) {
        return "malformed JSON (a number is malformed or outside the range of a double or a "
               "64-bit integer)";
    }
    return std::string("malformed JSON (") + simdjson::error_message(error) + ")";
}

} // namespace

struct csimdjson_parser {
    dom::parser dom;
    size_t max_depth;
    /// The line followed by simdjson::SIMDJSON_PADDING readable bytes.
    std::unique_ptr<char[]> padded;
    size_t padded_capacity = 0;
    /// Whether the buffers grew beyond kRetainedCapacity for the previous line.
    bool holding_large = false;
    std::vector<float> vector;
    std::vector<csimdjson_string> tags;
    std::vector<csimdjson_value> meta;
    std::string message;

    /// (Re)creates the DOM parser with the configured depth limit.
    simdjson::error_code reset_dom() {
        dom = dom::parser();
        return dom.allocate(64 * 1024, max_depth);
    }

    void release_large_buffers() {
        padded.reset();
        padded_capacity = 0;
        std::vector<float>().swap(vector);
        std::vector<csimdjson_string>().swap(tags);
        std::vector<csimdjson_value>().swap(meta);
        holding_large = false;
    }

    /// Copies the line into the padded buffer (growing it if needed) and returns it.
    const char *pad(const void *bytes, size_t length) {
        if (!padded || padded_capacity < length) {
            padded.reset(new char[length + simdjson::SIMDJSON_PADDING]);
            padded_capacity = length;
        }
        if (length > 0) std::memcpy(padded.get(), bytes, length);
        std::memset(padded.get() + length, 0, simdjson::SIMDJSON_PADDING);
        return padded.get();
    }

    float to_float(dom::element element, size_t index) {
        double value;
        if (element.get_double().get(value)) wrong_type(element_name("vector", index));
        if (std::fabs(value) >= kFloatOverflow || (value != 0 && static_cast<float>(value) == 0)) {
            char number[32];
            std::snprintf(number, sizeof number, "%.9g", value);
            throw Invalid{"field '" + element_name("vector", index) + "' holds " + number +
                          ", which a 32-bit float cannot represent"};
        }
        return static_cast<float>(value);
    }

    void read_vector(dom::element element) {
        dom::array array;
        if (element.get_array().get(array)) wrong_type("vector");
        size_t index = 0;
        for (dom::element item : array) vector.push_back(to_float(item, index++));
    }

    void read_tags(dom::element element) {
        dom::array array;
        if (element.get_array().get(array)) wrong_type("tags");
        size_t index = 0;
        for (dom::element item : array) {
            std::string_view tag;
            if (item.get_string().get(tag)) wrong_type(element_name("tags", index));
            tags.push_back(view(tag));
            index++;
        }
    }

    /// Appends `element` and its descendants to `meta` (depth is bounded by max_depth).
    void append_value(std::string_view key, dom::element element) {
        csimdjson_value value{};
        value.key = view(key);
        switch (element.type()) {
        case dom::element_type::ARRAY: {
            size_t at = meta.size();
            value.kind = CSIMDJSON_ARRAY;
            meta.push_back(value);
            size_t count = 0;
            for (dom::element item : element.get_array().value_unsafe()) {
                append_value({}, item);
                count++;
            }
            meta[at].count = count;
            return;
        }
        case dom::element_type::OBJECT: {
            size_t at = meta.size();
            value.kind = CSIMDJSON_OBJECT;
            meta.push_back(value);
            size_t count = 0;
            for (dom::key_value_pair member : element.get_object().value_unsafe()) {
                append_value(member.key, member.value);
                count++;
            }
            meta[at].count = count;
            return;
        }
        case dom::element_type::INT64:
        case dom::element_type::UINT64:
        case dom::element_type::DOUBLE:
            value.kind = CSIMDJSON_NUMBER;
            value.number = element.get_double().value_unsafe();
            break;
        case dom::element_type::STRING:
            value.kind = CSIMDJSON_STRING;
            value.string = view(element.get_string().value_unsafe());
            break;
        case dom::element_type::BOOL:
            value.kind = element.get_bool().value_unsafe() ? CSIMDJSON_TRUE : CSIMDJSON_FALSE;
            break;
        case dom::element_type::NULL_VALUE:
            value.kind = CSIMDJSON_NULL;
            break;
        }
        meta.push_back(value);
    }

    void read_meta(dom::element element) {
        dom::object object;
        if (element.get_object().get(object)) wrong_type("meta");
        for (dom::key_value_pair member : object) append_value(member.key, member.value);
    }

    static csimdjson_string read_string(dom::element element, const char *field) {
        std::string_view text;
        if (element.get_string().get(text)) wrong_type(field);
        return view(text);
    }

    static csimdjson_time read_time(dom::element element, const char *field) {
        csimdjson_time time{};
        if (element.is_number()) {
            time.kind = CSIMDJSON_TIME_NUMBER;
            time.number = element.get_double().value_unsafe();
        } else if (element.is_string()) {
            time.kind = CSIMDJSON_TIME_STRING;
            time.string = view(element.get_string().value_unsafe());
        } else {
            wrong_type(field);
        }
        return time;
    }

    /// Fills `out` from the parsed document; throws Invalid for a record of the wrong shape.
    void read_record(dom::element root, csimdjson_record &out) {
        dom::object object;
        if (root.get_object().get(object)) throw Invalid{"record is not a JSON object"};
        unsigned seen = 0;
        for (dom::key_value_pair member : object) {
            Field field = field_named(member.key);
            if (field == 0 || (seen & field)) continue;
            seen |= field;
            dom::element value = member.value;
            if (value.is_null()) continue;
            switch (field) {
            case kId: out.has_id = 1; out.id = read_string(value, "id"); break;
            case kText: out.text = read_string(value, "text"); break;
            case kNamespace: out.has_namespace = 1; out.namespace_name = read_string(value, "namespace"); break;
            case kVector: out.has_vector = 1; read_vector(value); break;
            case kTags: read_tags(value); break;
            case kMeta: read_meta(value); break;
            case kTime: out.time = read_time(value, "time"); break;
            case kExpiresAt: out.expires_at = read_time(value, "expiresAt"); break;
            case kValidTo: out.valid_to = read_time(value, "validTo"); break;
            case kImportance:
                if (value.get_double().get(out.importance)) wrong_type("importance");
                break;
            }
        }
        out.vector = vector.data();
        out.vector_count = vector.size();
        out.tags = tags.data();
        out.tag_count = tags.size();
        out.meta = meta.data();
        out.meta_count = meta.size();
    }

    csimdjson_status parse(const void *bytes, size_t length, csimdjson_record &out) {
        if (holding_large && length <= kRetainedCapacity) {
            release_large_buffers();
            if (reset_dom()) return fail(CSIMDJSON_NO_MEMORY, "out of memory");
        }
        holding_large = length > kRetainedCapacity;
        vector.clear();
        tags.clear();
        meta.clear();
        out = csimdjson_record{};
        dom::element root;
        simdjson::error_code error = dom.parse(pad(bytes, length), length, false).get(root);
        if (error == simdjson::MEMALLOC) {
            return fail(CSIMDJSON_NO_MEMORY, "out of memory parsing a line of " + std::to_string(length) + " bytes");
        }
        if (error) return fail(CSIMDJSON_INVALID, malformed(error));
        read_record(root, out);
        return CSIMDJSON_OK;
    }

    /// Parses any one JSON document into `meta`, root first.
    csimdjson_status parse_value(const void *bytes, size_t length) {
        if (holding_large && length <= kRetainedCapacity) {
            release_large_buffers();
            if (reset_dom()) return fail(CSIMDJSON_NO_MEMORY, "out of memory");
        }
        holding_large = length > kRetainedCapacity;
        meta.clear();
        dom::element root;
        simdjson::error_code error = dom.parse(pad(bytes, length), length, false).get(root);
        if (error == simdjson::MEMALLOC) {
            return fail(CSIMDJSON_NO_MEMORY, "out of memory parsing a line of " + std::to_string(length) + " bytes");
        }
        if (error) return fail(CSIMDJSON_INVALID, malformed(error));
        append_value({}, root);
        return CSIMDJSON_OK;
    }

    /// Records `text` as the message of a failed parse (never throws).
    csimdjson_status fail(csimdjson_status status, std::string &&text) noexcept {
        message.swap(text);
        return status;
    }
};

extern "C" {

csimdjson_parser *csimdjson_parser_new(size_t max_depth) {
    auto *parser = new (std::nothrow) csimdjson_parser();
    if (parser == nullptr) return nullptr;
    parser->max_depth = max_depth;
    if (parser->reset_dom()) {
        delete parser;
        return nullptr;
    }
    return parser;
}

void csimdjson_parser_free(csimdjson_parser *parser) { delete parser; }

csimdjson_status csimdjson_parse_record(csimdjson_parser *parser, const void *bytes, size_t length,
                                        csimdjson_record *out, const char **message) {
    csimdjson_status status;
    try {
        status = parser->parse(bytes, length, *out);
    } catch (Invalid &invalid) {
        status = parser->fail(CSIMDJSON_INVALID, std::move(invalid.message));
    } catch (const std::bad_alloc &) {
        *message = "out of memory";
        return CSIMDJSON_NO_MEMORY;
    } catch (...) {
        *message = "unexpected C++ exception while parsing a record";
        return CSIMDJSON_INTERNAL;
    }
    *message = status == CSIMDJSON_OK ? nullptr : parser->message.c_str();
    return status;
}

csimdjson_status csimdjson_parse_value(csimdjson_parser *parser, const void *bytes, size_t length,
                                       const csimdjson_value **values, size_t *count, const char **message) {
    csimdjson_status status;
    try {
        status = parser->parse_value(bytes, length);
    } catch (const std::bad_alloc &) {
        *message = "out of memory";
        return CSIMDJSON_NO_MEMORY;
    } catch (...) {
        *message = "unexpected C++ exception while parsing a line";
        return CSIMDJSON_INTERNAL;
    }
    *values = parser->meta.data();
    *count = parser->meta.size();
    *message = status == CSIMDJSON_OK ? nullptr : parser->message.c_str();
    return status;
}

} // extern "C"

namespace {

/// Reads a number of the form `[-]digits[.digits]` with at most 15 digits in all at `p` into
/// `out` and moves `p` past it; false, leaving `p`, for anything else (fast_float reads it).
/// Such a number is x = w / 10^f with w < 2^53 and 10^f exact doubles, so one division gives
/// x correctly rounded to a double, q. Rounding q to a float gives x rounded to a float unless q
/// lies exactly halfway between two floats (a float halfway point between x and q would be a
/// double nearer to x than q is): that case goes to fast_float too. So the value is the one
/// fast_float gives, for a fraction of its cost (pgvector writes its values this way, and a
/// vector column is the bulk of a change line).
inline bool parse_short_decimal(const char *&p, const char *end, float &out) {
    static constexpr double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    constexpr int max_digits = 15;
    const char *q = p;
    const bool negative = q < end && *q == '-';
    if (negative) ++q;
    uint64_t w = 0;
    int digits = 0;
    const char *integer = q;
    for (; q < end && static_cast<unsigned>(*q - '0') < 10; ++q, ++digits) {
        if (digits == max_digits) return false;
        w = w * 10 + static_cast<uint64_t>(*q - '0');
    }
    if (q == integer) return false;
    int fraction = 0;
    if (q < end && *q == '.') {
        ++q;
        for (; q < end && static_cast<unsigned>(*q - '0') < 10; ++q, ++digits, ++fraction) {
            if (digits == max_digits) return false;
            w = w * 10 + static_cast<uint64_t>(*q - '0');
        }
        if (fraction == 0) return false;
    }
    if (q < end && (*q == 'e' || *q == 'E')) return false;
    const double rounded = static_cast<double>(w) / pow10[fraction];
    uint64_t bits;
    std::memcpy(&bits, &rounded, sizeof bits);
    // The 29 low bits of a double's fraction are those a float drops: 1 then 28 zeros is a halfway point.
    constexpr uint64_t dropped = (uint64_t{1} << 29) - 1, halfway = uint64_t{1} << 28;
    if ((bits & dropped) == halfway) return false;
    const float value = static_cast<float>(rounded);
    out = negative ? -value : value;
    p = q;
    return true;
}

} // namespace

extern "C" {

long csimdjson_parse_floats(const char *text, size_t length, float *out, size_t capacity) {
    const char *p = text, *end = text + length;
    auto skip_spaces = [&] { while (p < end && *p == ' ') ++p; };
    skip_spaces();
    if (p == end) return 0;
    size_t count = 0;
    while (true) {
        if (count == capacity) return -1;
        // from_chars takes no leading '+', as strtof would; pgvector never writes one.
        float value;
        if (!parse_short_decimal(p, end, value)) {
            auto result = fast_float::from_chars(p, end, value);
            if (result.ec != std::errc() || !std::isfinite(value)) return -1;
            p = result.ptr;
        }
        out[count++] = value;
        skip_spaces();
        if (p == end) return static_cast<long>(count);
        if (*p != ',') return -1;
        ++p;
        skip_spaces();
    }
}

} // extern "C"
