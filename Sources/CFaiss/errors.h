// Private to the shim: C++ errors turned into the malloc'ed messages of the C interface.
#pragma once
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace cfaiss {

/// `message` copied with malloc, for the caller to release with cfaiss_free_error.
inline char *copy_message(const std::string &message) {
    char *out = static_cast<char *>(std::malloc(message.size() + 1));
    if (out != nullptr) std::memcpy(out, message.c_str(), message.size() + 1);
    return out;
}

/// Runs `body`, turning any C++ exception into a malloc'ed message (NULL on success).
template <typename Body> char *guarded(Body &&body) {
    try {
        body();
        return nullptr;
    } catch (const std::exception &e) {
        return copy_message(e.what());
    } catch (...) {
        return copy_message("unknown FAISS error");
    }
}

} // namespace cfaiss
