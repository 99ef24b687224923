# <linux/fdtable.h> up to 3.6 (checked 2.6.28.6, 2.6.32, 2.6.34): no
# iterate_fd() yet; fcheck_files() looks a descriptor up.
/^int iterate_fd(/,/;$/d
