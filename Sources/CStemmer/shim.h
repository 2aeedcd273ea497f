// Snowball stemmers (Debian's libstemmer-dev).
#include <libstemmer.h>
