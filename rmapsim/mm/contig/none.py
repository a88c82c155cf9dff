"""No contiguity strategy: order-0 reclaim and retry, as 2.6.22's __alloc_pages did.

After the free lists fail at the low watermark, they are tried at min; then one round of direct
reclaim (try_to_free_pages, SWAP_CLUSTER_MAX pages chosen by the policy wherever they lie) and
a retry. Above PAGE_ALLOC_COSTLY_ORDER (3) that is all: 2.6.22 retries costly orders only with
__GFP_REPEAT, which hugetlb's allocation did not pass. At or below it, 2.6.22 retries for ever
and calls the OOM killer; here it retries while reclaim makes progress, at most
``MAX_RETRIES`` rounds, and a request that still fails is reported failed (the trace's
requests never OOM-kill a process).
"""
from rmapsim.jit import kernel

from rmapsim.mm.contig.base import direct_reclaim, get_page
from rmapsim.mm.layout import OUT_AFTER_RECLAIM, OUT_AT_ONCE, PAGE_ALLOC_COSTLY_ORDER

NAME = "none"
MODELS = "Linux 2.6.22 __alloc_pages: order-0 direct reclaim and retry"
MAX_RETRIES = 16


@kernel
def alloc(st, order):
    f = get_page(st, order, False)
    if f >= 0:
        return f * 8 + OUT_AT_ONCE
    rounds = 1 if order > PAGE_ALLOC_COSTLY_ORDER else MAX_RETRIES
    for _ in range(rounds):
        freed = direct_reclaim(st, order)
        f = get_page(st, order, False)
        if f >= 0:
            return f * 8 + OUT_AFTER_RECLAIM
        if freed == 0:
            break
    return -1
