# <linux/fdtable.h> from 5.11 (checked 6.1, 6.6.47, 6.12, and Debian's
# 5.10.0-46: stable 5.10.y took the change too): fcheck_files() became
# files_lookup_fd_rcu() and friends; iterate_fd() stays.
/^static inline struct file \*fcheck_files(/,/^}$/d
