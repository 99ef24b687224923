# unknown-9.0: the e-6.6 <linux/module.h> (BASE) with the reference count
# renamed and retyped, a layout no kernel has.
1,/^ \*\/$/c\
/*\
 * force-rmmod-gen test tree: a made-up future kernel ("9.0") whose struct\
 * module counts references in a refcount_t called refs.  No kernel has this\
 * layout: it exists so the tool meets a shape it does not know and must\
 * stop with "unknown layout" instead of guessing.  Derived from the e-6.6\
 * header by tests/trees/eras/unknown-9.0/module.sed.\
 */
s/^#include <linux\/atomic.h>$/&\n#include <linux\/refcount.h>/
s/^\tatomic_t refcnt;$/\trefcount_t refs;/
