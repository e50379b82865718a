# Shared by the benchmark scripts (sourced). Every measured run writes into a freshly made ext4
# file system on a loop device backed by a file on the same disk: on a file system that has just
# deleted tens of thousands of inodes, ext4's inode allocator spends most of its time skipping
# them (recently_deleted), which would measure the previous run's cleanup, not the tool.

# fresh_fs DIR: (re)creates an empty ext4 file system mounted at DIR.
fresh_fs() {
        mountpoint -q "$1" && umount "$1"
        mkdir -p "$1"
        [ -f "$1.img" ] || truncate -s 4G "$1.img"
        mkfs.ext4 -q -F "$1.img"
        mount -o loop "$1.img" "$1"
}

# drop_fs DIR: unmounts and deletes it.
drop_fs() {
        mountpoint -q "$1" && umount "$1"
        rm -f "$1.img"
        rmdir "$1" 2>/dev/null || true
}

# cold_cache: the chunk store is read from disk, as on a machine that did not just write it.
cold_cache() {
        sync
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}
