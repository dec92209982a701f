// Bare-metal Cortex-M startup for qemu-system-arm (mps2-an386/an500, mps3-an547).
// Adapted from ../shared/examples/cortex-m-qemu/fw/startup.c (edgesdk worked example):
// vector table, reset (FPU/MVE on, .data/.bss init, semihosting stdio), fault reports,
// stack high-water mark. No SysTick: the profiler counts instructions, not time, and an
// interrupt would add handler instructions to the count.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack, _sstack;
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);  // librdimon: stdio over semihosting

// With -nostartfiles crti.o/crtn.o/crtbegin.o are absent: __libc_init_array calls _init,
// __cxa_atexit (function-local C++ statics) needs __dso_handle.
void _init(void) {}
void _fini(void) {}
void* __dso_handle = &__dso_handle;

static void fault_report(const char* what) {
  volatile uint32_t* cfsr = (uint32_t*)0xE000ED28;
  volatile uint32_t* hfsr = (uint32_t*)0xE000ED2C;
  printf("EDGESDK error %s CFSR=0x%08lx HFSR=0x%08lx\n", what, (unsigned long)*cfsr, (unsigned long)*hfsr);
  exit(3);
}
void HardFault_Handler(void) { fault_report("HardFault"); }
void MemManage_Handler(void) { fault_report("MemManage fault"); }
void BusFault_Handler(void) { fault_report("BusFault"); }
void UsageFault_Handler(void) { fault_report("UsageFault"); }
void Default_Handler(void) { fault_report("unexpected interrupt"); }

// Stack high-water mark: paint the stack at reset, find the deepest overwritten word later.
#define STACK_PAINT 0xDEADBEEFu
static void stack_paint(void) {
  uint32_t sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t* p = &_sstack; p < (uint32_t*)(sp - 64); ++p) *p = STACK_PAINT;
}
uint32_t stack_high_water_bytes(void) {
  uint32_t* p = &_sstack;
  while (p < &_estack && *p == STACK_PAINT) ++p;
  return (uint32_t)((uint8_t*)&_estack - (uint8_t*)p);
}

void Reset_Handler(void) {
  stack_paint();
  volatile uint32_t* cpacr = (uint32_t*)0xE000ED88;  // CP10/CP11: FPU (and MVE on M55)
  *cpacr |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");
  volatile uint32_t* shcsr = (uint32_t*)0xE000ED24;  // separate bus/usage/memmanage faults
  *shcsr |= (7u << 16);
  uint32_t* src = &_sidata;
  for (uint32_t* dst = &_sdata; dst < &_edata;) *dst++ = *src++;
  for (uint32_t* dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

#define D Default_Handler
__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16 + 32])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, D, HardFault_Handler, MemManage_Handler,
    BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0, D /*SVC*/, D /*DebugMon*/, 0, D /*PendSV*/,
    D /*SysTick*/, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    D, D, D, D, D, D};
