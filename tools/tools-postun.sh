# hostnet-tools %postun. $1: 0 on erase, 1 or more on upgrade.
if [ "$1" -eq 0 ]; then
    # The unit file is gone with the package; its link too.
    rm -f /etc/systemd/system/multi-user.target.wants/hostnet-apply-boot.service
    # hostnet-apply's state goes with it (the host package, which requires the tools, is erased
    # first and takes its own part). Its log stays, as logs do.
    rm -rf /var/lib/hostnet/apply
    rmdir /var/lib/hostnet 2>/dev/null
fi
exit 0
