// The system's libatomic_ops header, as the CAtomicOps module (see module.modulemap).
#include <atomic_ops.h>
