// Everything is inline in include/bench_system.h; SwiftPM needs one source file per C target.
#include "bench_system.h"
