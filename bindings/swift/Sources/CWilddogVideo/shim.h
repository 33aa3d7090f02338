/* The C API of wilddog-video, from the installed header (pkg-config's
 * include path) or the repository's include/ (run-tests.sh passes
 * -Xcc -I<repo>/include). */
#include <wilddog_video.h>
