/* QEMU 7.2 TCG plugin (plugin API v1): exact guest instruction count, with a snapshot each
 * time the guest executes the instruction at mark=0x... (the firmware's edgesdk_mark) and,
 * kept apart, at tokenize_mark=0x... (edgesdk_mark_tokenize: the package firmware brackets
 * its on-device tokenizer with it). API v1 cannot read the guest's registers, so the two
 * regions are told apart by the marking function's address, not by its argument.
 * From ../shared/examples/cortex-m-qemu/plugin/insncount.c (edgesdk worked example); the
 * declarations mirror QEMU 7.2's include/qemu/qemu-plugin.h, whose header Debian does not ship. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_MARKS 1024
static uint64_t insn_count;  /* one inline add per executed instruction: exact */
enum { MARK, TOKENIZE_MARK, N_KINDS };
static const char *const kind_names[N_KINDS] = {"mark", "tokenize_mark"};
static uint64_t mark_addr[N_KINDS];
static uint64_t marks[N_KINDS][MAX_MARKS];
static int n_marks[N_KINDS];

static void on_mark(unsigned int vcpu, void *userdata) {
  (void)vcpu;
  int kind = (int)(uintptr_t)userdata;
  if (n_marks[kind] < MAX_MARKS) marks[kind][n_marks[kind]++] = insn_count;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, 1);
    for (int kind = 0; kind < N_KINDS; kind++)
      if (mark_addr[kind] && (qemu_plugin_insn_vaddr(insn) & ~1ull) == (mark_addr[kind] & ~1ull))
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)kind);
  }
}

static void at_exit(qemu_plugin_id_t id, void *userdata) {
  (void)id; (void)userdata;
  char line[96];
  snprintf(line, sizeof line, "EDGESDK-PLUGIN total %" PRIu64 "\n", insn_count);
  qemu_plugin_outs(line);
  for (int kind = 0; kind < N_KINDS; kind++)
    for (int i = 0; i < n_marks[kind]; i++) {
      snprintf(line, sizeof line, "EDGESDK-PLUGIN %s %" PRIu64 "\n", kind_names[kind], marks[kind][i]);
      qemu_plugin_outs(line);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; i++)
    for (int kind = 0; kind < N_KINDS; kind++) {
      size_t n = strlen(kind_names[kind]);
      if (strncmp(argv[i], kind_names[kind], n) == 0 && argv[i][n] == '=')
        mark_addr[kind] = strtoull(argv[i] + n + 1, NULL, 0);
    }
  qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
