// The state behind the interleaving points (see CMultiLoopSystem.h): the installed hook, and
// which checker thread the calling thread is.
#include "CMultiLoopSystem.h"

ml_interleaving_hook_t ml_interleaving_hook_storage = NULL;

static _Thread_local int ml_interleaving_thread_index = 0;

void ml_interleaving_set_hook(ml_interleaving_hook_t hook) {
    __atomic_store_n(&ml_interleaving_hook_storage, hook, __ATOMIC_RELEASE);
}

int ml_interleaving_thread(void) { return ml_interleaving_thread_index; }

void ml_interleaving_set_thread(int index) { ml_interleaving_thread_index = index; }
