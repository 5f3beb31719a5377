#!/bin/busybox sh
# /capture-init of the kdump capture kernel: saves /proc/vmcore twice, as an ELF copy onto the
# first virtio disk and as `makedumpfile -c -d 31` (flattened, to a stream) onto the second.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
R=$(uname -r)
M=/lib/modules/$R
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do insmod $M/$m.ko; done
sleep 1
echo "KDAP-CAPTURE vmcore $(stat -c %s /proc/vmcore) bytes"
cat /proc/vmcore > /dev/vda && echo "KDAP-CAPTURE elf-done"
makedumpfile -F -c -d 31 /proc/vmcore > /dev/vdb && echo "KDAP-CAPTURE makedumpfile-done"
sync
echo "KDAP-CAPTURE-DONE"
poweroff -f
