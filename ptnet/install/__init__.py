"""`ptnet host`: ptnet on the user's own machine, outside the cache and the lab.

One concern per module:
    preflight.py  what refuses an install: kernel range, headers, Secure Boot
    dkms.py       the DKMS source tree (/usr/src/ptnet-VERSION) and its registration
    modconf.py    module parameters (/etc/modprobe.d), loading at boot, the udev rule
    qemu.py       our QEMU in ptnet's prefix (/opt/ptnet/qemu)
    holders.py    the processes that hold /dev/netmap open
    steps.py      install and uninstall, in order
    status.py     the state of each piece (`ptnet host status`, `ptnet doctor`)
All changes to the host go through ptnet.host, which logs each before it happens.
"""
