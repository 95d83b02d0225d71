"""The curated tables: programs known to only read, known writers, and known deleters."""

from __future__ import annotations

from piloto.policy.effect import words

# Programs that only inspect whatever their arguments; the ones with flags that write are
# classified in effects_*.py and never reach this table.
READ = words("""
    ls ll la dir vdir exa eza lsd cat tac head tail grep egrep fgrep zgrep zegrep zfgrep bzgrep
    xzgrep rg ag ack ps pgrep pstree pidof df du duf dust ncdu free uptime uname arch whoami id
    groups logname env printenv echo printf pwd which type whereis stat file wc uniq cut tr nl fold
    fmt paste join comm column diff diff3 sdiff cmp md5sum sha1sum sha224sum sha256sum sha384sum
    sha512sum b2sum cksum sum base64 base32 basenc od hexdump hd strings realpath readlink namei
    basename dirname true false test [ [[ sleep seq expr tree locate mlocate plocate top htop
    atop btop iotop iftop nethogs glances dstat vmstat iostat mpstat pidstat sar tload nproc
    lscpu lsmem lsblk blkid lspci lsusb lsmod lsof lslocks lsns lsipc lsattr lshw lsinitramfs
    getfacl findmnt w who last lastb lastlog faillog users tty getent ping ping6 fping arping
    traceroute traceroute6 tracepath mtr dig nslookup host whois drill ss netstat iwconfig iw arp
    ethtool mii-tool nstat ifstat nmap history ulimit umask cal ncal zcat bzcat xzcat zstdcat
    lz4cat sensors : cd pushd popd dirs wait jobs command getconf apt-cache dpkg-query ldd nm
    objdump readelf look rev numfmt factor bc yes systemd-analyze systemd-cgls systemd-cgtop
    busctl udevadm dmidecode hwinfo inxi ipcs sestatus getenforce aa-status apparmor_status
    quota repquota pmap pwdx lsb_release hostid locale zdump timeout-check shellcheck yamllint
    hadolint jsonlint gron csvlook zipinfo free help compgen complete hash
    let read getopts shift set unset export declare typeset local readonly shopt exit return
    break continue times caller disown bg fg logout mapfile readarray printenv
    xargs watch nohup time nice ionice stdbuf setsid flock taskset chrt unbuffer sudo doas
    runuser su pkexec busybox chroot timeout envsubst
    git-lfs-ls lastcomm ac sa atq tload slabtop turbostat vnstat nload bmon lnav multitail
    ip6tables-save iptables-save nft-list ss ldconfig-p update-alternatives-list
    pg_isready pg_lsclusters pg_controldata mysqlshow redis-benchmark-info
    kubectx-list kubens-list stern k9s-info
    nvidia-smi rocm-smi
""")

# Known programs that change state within bounds (a read-only classifier does not apply).
WRITE = words("""
    mkdir touch cp mv ln install mktemp mkfifo mknod logger wall sync patch dos2unix unix2dos
    renice hwclock ntpdate chronyc logrotate zip convert ffmpeg wall notify-send mail sendmail
    update-grub update-initramfs update-ca-certificates update-alternatives ldconfig atrm
    systemd-tmpfiles trap unalias kubectx kubens
""")

# Programs whose only purpose is to delete or empty files.
DELETE = words("rm rmdir unlink srm wipe")
TRUNCATE = words("truncate fallocate-punch")
