// Header-only target: SwiftPM needs one source file to build the module.
#include "echo_system.h"
