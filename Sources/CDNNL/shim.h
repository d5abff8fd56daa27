// Debian's libdnnl-dev 2.6.3 ships no pkg-config file; its headers live in /usr/include.
#include <dnnl.h>
