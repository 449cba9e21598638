/**
 * Test data only: a realistic config.json of the kind containerd/Docker write for a
 * user-namespaced container, with every section filled in. Each call returns a new copy.
 */
import type { RuntimeConfig } from './types.ts';

const DOCKER_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export function fullConfig(): RuntimeConfig {
  return {
    ociVersion: '1.2.0',
    process: {
      terminal: false,
      consoleSize: { height: 24, width: 80 },
      user: { uid: 1000, gid: 1000, umask: 0o022, additionalGids: [10, 20] },
      args: ['/usr/bin/nginx', '-g', 'daemon off;'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=web-1', 'EMPTY='],
      cwd: '/srv/www',
      capabilities: {
        bounding: [...DOCKER_CAPABILITIES, 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE'],
        effective: [...DOCKER_CAPABILITIES],
        permitted: [...DOCKER_CAPABILITIES],
        inheritable: [],
        ambient: [],
      },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1024 },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
      ],
      noNewPrivileges: true,
      apparmorProfile: 'berth-default',
      oomScoreAdj: -500,
      ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
      scheduler: { policy: 'SCHED_OTHER', nice: 5 },
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'web-1',
    domainname: 'example.internal',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: '/var/lib/berth/containers/web-1/resolv.conf', options: ['rbind', 'rprivate', 'ro'] },
      {
        destination: '/srv/www',
        type: 'bind',
        source: '/var/lib/berth/volumes/www/_data',
        options: ['rbind', 'idmap', 'rro'],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'tmpcopyup', 'size=64m'] },
    ],
    hooks: {
      createRuntime: [{ path: '/usr/libexec/berth/netns-setup', args: ['netns-setup', 'web-1'], env: ['BERTH=1'], timeout: 10 }],
      poststop: [{ path: '/usr/bin/berth', args: ['berth', 'container', 'cleanup', 'web-1'] }],
    },
    annotations: { 'io.berth.container.name': 'web-1', 'org.opencontainers.image.ref.name': 'nginx:1.25' },
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'network', path: '/run/berth/netns/web-1' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'user' },
        { type: 'cgroup' },
        { type: 'time' },
      ],
      uidMappings: [
        { containerID: 0, hostID: 100000, size: 65536 },
        { containerID: 65536, hostID: 300000, size: 1 },
      ],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      timeOffsets: { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: -60, nanosecs: 500 } },
      devices: [
        { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
        { type: 'p', path: '/dev/initctl' },
      ],
      cgroupsPath: '/berth/web-1',
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
        ],
        memory: { limit: 536870912, reservation: 268435456, swap: 1073741824, swappiness: 60, disableOOMKiller: false },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
        blockIO: {
          weight: 500,
          weightDevice: [{ major: 8, minor: 0, weight: 300 }],
          throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 10485760 }],
        },
        hugepageLimits: [{ pageSize: '2MB', limit: 209715200 }],
        network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 5 }] },
        pids: { limit: 256 },
        rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
      },
      sysctl: {
        'net.ipv4.ip_unprivileged_port_start': '0',
        'net/ipv4/conf/eth0.100/rp_filter': '1',
        'kernel.shmmax': '68719476736',
        'fs.mqueue.msg_max': '64',
        'kernel.domainname': 'example.internal',
      },
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        syscalls: [
          { names: ['read', 'write', 'openat', 'close', 'exit_group', 'futex'], action: 'SCMP_ACT_ALLOW' },
          { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
          { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
          { names: ['kexec_load'], action: 'SCMP_ACT_KILL_PROCESS' },
        ],
      },
      rootfsPropagation: 'rslave',
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      mountLabel: 'system_u:object_r:container_file_t:s0:c1,c2',
      personality: { domain: 'LINUX' },
      intelRdt: { closID: 'web' },
    },
  };
}

/** The smallest config berth accepts: a version, a rootfs and a program. */
export function minimalConfig(): RuntimeConfig {
  return { ociVersion: '1.2.0', root: { path: 'rootfs' }, process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' } };
}
