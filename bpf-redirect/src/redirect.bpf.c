// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Palisade XDP redirect program.
 *
 * Contract: every frame that arrives on an interface is redirected into the
 * AF_XDP socket registered in `xsks_map` under the frame's RX queue index.
 * When no socket is registered for that queue (the user-space dataplane is not
 * running, or crashed while the program stayed pinned), the program returns the
 * fallback action stored in `palisade_cfg[0]`: XDP_DROP (fail-closed, the
 * default, also used when the entry holds anything else) or XDP_PASS
 * (debugging: the frame takes the kernel path).
 *
 * Self-contained on purpose (no libbpf headers), so the build needs only clang.
 */

typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* From include/uapi/linux/bpf.h */
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_XSKMAP 17
#define XDP_DROP 1
#define XDP_PASS 2

struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

/* Queue index -> AF_XDP socket. 64 queues is far above what a veth gets. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* Entry 0: the fallback action (XDP_DROP or XDP_PASS). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} palisade_cfg SEC(".maps");

SEC("xdp")
int palisade_redirect(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *fallback = bpf_map_lookup_elem(&palisade_cfg, &zero);
	__u64 action = XDP_DROP;

	if (fallback && *fallback == XDP_PASS)
		action = XDP_PASS;
	/* The lower bits of `flags` are the action returned when the lookup fails. */
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, action);
}

char _license[] SEC("license") = "Dual BSD/GPL";
