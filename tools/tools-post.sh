# hostnet-tools %post: enable the boot-time rollback of a change a reboot left unconfirmed.
# systemctl enable only makes links, so it works in a chroot (anaconda, rpm --root) too.
if command -v systemctl >/dev/null 2>&1; then
    systemctl enable hostnet-apply-boot.service >/dev/null 2>&1 ||
        echo "hostnet: WARNING: could not enable hostnet-apply-boot.service; a change left unconfirmed by a reboot is not rolled back at boot" >&2
fi
exit 0
