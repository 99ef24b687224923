# <linux/fs.h> up to 3.2 (checked 2.6.28.6, 2.6.32, RHEL 6.8's 2.6.32-642):
# fs_supers is a list_head; 3.3 made it an hlist_head.
s/^\tstruct hlist_head fs_supers;$/\tstruct list_head fs_supers;/
