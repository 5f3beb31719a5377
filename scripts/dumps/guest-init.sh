#!/bin/busybox sh
# /init of the dump fixtures' guests (an overlay on the shared test initramfs). The guest prints
# its own view of itself between KDAP-TRUTH markers, then either waits to be dumped from the
# QEMU monitor (KDAP_MODE=qemu) or arms kdump and panics (KDAP_MODE=kdump).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo 0 > /proc/sys/kernel/kptr_restrict
R=$(uname -r)
M=/lib/modules/$R
mode=$(sed -n 's/.*kdap_mode=\([a-z]*\).*/\1/p' /proc/cmdline)
insmod $M/qemu_fw_cfg.ko
insmod $M/kdap_test.ko
# Tasks the dump must show: sleepers of the shell's own making.
sleep 100000 &
(while :; do sleep 1000; done) &
if [ "$mode" = kdump ]; then
  kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio.gz \
    --append="console=ttyS0 nokaslr irqpoll nr_cpus=1 reset_devices rdinit=/capture-init" \
    || echo "KDAP-FAIL kexec -p failed"
  [ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || echo "KDAP-FAIL no crash kernel loaded"
fi
sleep 1
# Keep kernel messages off the console from here on, so the truths are not interleaved.
dmesg -n 1
echo "KDAP-TRUTH-BEGIN"
echo "UNAME $(uname -a)"
echo "BANNER $(cat /proc/version)"
sed 's/^/MODULE /' /proc/modules
for f in /sys/module/kdap_test/sections/.* /sys/module/kdap_test/sections/*; do
  [ -f "$f" ] && echo "SECTION ${f##*/} $(cat "$f")"
done
dmesg | tail -n 40 | sed 's/^/DMESG /'
# The tasks last, with shell builtins only, so that no fork or exec wakes kernel threads
# (migration/N, kworkers) between these reads and the dump. A task's context switches
# (voluntary + involuntary) are read before its stat and stack: while its count in the dump is
# still this one, it has not run since, and its state, CPU and stack are still these.
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  v= n=
  while read -r k x; do
    case $k in voluntary_ctxt_switches:) v=$x ;; nonvoluntary_ctxt_switches:) n=$x ;; esac
  done 2>/dev/null <"$d/status"
  { read -r s <"$d/stat"; } 2>/dev/null || continue
  echo "STAT $s"
  [ -n "$v" ] && [ -n "$n" ] && echo "SWITCHES $p $((v + n))"
  while read -r l; do echo "STACK $p $l"; done 2>/dev/null <"$d/stack"
done
echo "KDAP-TRUTH-END"
if [ "$mode" = kdump ]; then
  echo "KDAP-PANIC-NOW"
  # The panic stops the UART mid-buffer: let the markers above reach the host first.
  sleep 2
  echo c > /proc/sysrq-trigger
fi
echo "KDAP-DUMP-READY"
exec sleep 1000000
