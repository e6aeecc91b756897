// qappac accelerator testbench (docs/accelerator.md). It only writes the configuration
// registers and serves the DRAM port: a beat of the ifmap/ofmap region takes D_i cycles, of
// the filter region D_w cycles (ready rises after valid has been held that long).
//
// usage: Vtop input.txt output.txt [trace.vcd]
// With a third argument (and a model built with --trace), every signal is dumped to a VCD
// from START to done, two time steps per clock cycle: switching activity for power analysis.
// input:  ib wb d_i d_w n_ifmap n_filter n_ofmap n_cfg max_cycles
//         n_cfg lines "addr value", then n_ifmap and n_filter words (hex)
// output: "cycles <n>", one line per counter "<index> <value>", then n_ofmap words (hex)
#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif
#include <cstdint>
#include <cstdio>
#include <vector>

template <typename T>
static void put_bits(T& sig, int off, uint64_t value, int width) {
  for (int b = 0; b < width; b++) {
    T bit = static_cast<T>(1) << (off + b);
    if ((value >> b) & 1) sig |= bit; else sig &= ~bit;
  }
}
template <std::size_t N>
static void put_bits(VlWide<N>& sig, int off, uint64_t value, int width) {
  for (int b = 0; b < width; b++) {
    int at = off + b;
    uint32_t bit = 1u << (at % 32);
    if ((value >> b) & 1) sig[at / 32] |= bit; else sig[at / 32] &= ~bit;
  }
}
template <typename T>
static uint64_t get_bits(const T& sig, int off, int width) {
  uint64_t v = 0;
  for (int b = 0; b < width; b++) v |= static_cast<uint64_t>((sig >> (off + b)) & 1) << b;
  return v;
}
template <std::size_t N>
static uint64_t get_bits(const VlWide<N>& sig, int off, int width) {
  uint64_t v = 0;
  for (int b = 0; b < width; b++) {
    int at = off + b;
    v |= static_cast<uint64_t>((sig[at / 32] >> (at % 32)) & 1) << b;
  }
  return v;
}
template <typename T> static void clear(T& sig) { sig = 0; }
template <std::size_t N> static void clear(VlWide<N>& sig) {
  for (std::size_t i = 0; i < N; i++) sig[i] = 0;
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: Vtop input output [trace.vcd]\n");
    return 2;
  }
  FILE* in = std::fopen(argv[1], "r");
  if (!in) { std::fprintf(stderr, "cannot open %s\n", argv[1]); return 2; }
  int ib, wb, d_i, d_w;
  long n_ifmap, n_filter, n_ofmap, n_cfg;
  unsigned long long max_cycles;
  if (std::fscanf(in, "%d %d %d %d %ld %ld %ld %ld %llu", &ib, &wb, &d_i, &d_w, &n_ifmap,
                  &n_filter, &n_ofmap, &n_cfg, &max_cycles) != 9) return 2;
  std::vector<std::pair<unsigned, unsigned>> cfg(n_cfg);
  for (auto& c : cfg) if (std::fscanf(in, "%u %u", &c.first, &c.second) != 2) return 2;
  std::vector<uint64_t> mem[3];
  mem[0].resize(n_ifmap);
  mem[1].resize(n_filter);
  mem[2].assign(n_ofmap, 0);
  for (int r = 0; r < 2; r++)
    for (auto& w : mem[r]) {
      unsigned long long v;
      if (std::fscanf(in, "%llx", &v) != 1) return 2;
      w = v;
    }
  std::fclose(in);

  VerilatedContext ctx;
#if VM_TRACE
  if (argc == 4) ctx.traceEverOn(true);
  VerilatedVcdC* vcd = nullptr;
  uint64_t stamp = 0;
#else
  if (argc == 4) { std::fprintf(stderr, "this model was built without --trace\n"); return 2; }
#endif
  Vtop* top = new Vtop{&ctx};
  top->clk = 0;
  top->rst_n = 0;
  top->cfg_we = 0;
  top->dram_ready = 0;
  top->cnt_sel = 0;
  top->eval();
  top->rst_n = 1;
  top->eval();
  auto tick = [&]() {
    top->clk = 1;
    top->eval();
#if VM_TRACE
    if (vcd) vcd->dump(stamp++);
#endif
    top->clk = 0;
    top->eval();
#if VM_TRACE
    if (vcd) vcd->dump(stamp++);
#endif
  };
  for (auto& c : cfg) {
    top->cfg_we = 1;
    top->cfg_addr = c.first;
    top->cfg_wdata = c.second;
    top->eval();
    tick();
  }
  top->cfg_we = 1;
  top->cfg_addr = 0;
  top->cfg_wdata = 1;  // START
  top->eval();
  tick();
  top->cfg_we = 0;
  top->eval();
#if VM_TRACE
  if (argc == 4) {
    vcd = new VerilatedVcdC;
    top->trace(vcd, 99);
    vcd->open(argv[3]);
    vcd->dump(stamp++);
  }
#endif

  const int width[3] = {ib, wb, ib};
  const int delay[3] = {d_i, d_w, d_i};
  int held = 0;
  unsigned long long cycle = 0;
  bool ok = true;
  while (!top->done) {
    if (cycle++ >= max_cycles) { std::fprintf(stderr, "timeout after %llu cycles\n", cycle); ok = false; break; }
    top->dram_ready = 0;
    clear(top->dram_rdata);
    top->eval();
    if (top->dram_valid) {
      int region = top->dram_region;
      if (held + 1 >= delay[region]) {
        top->dram_ready = 1;
        if (!top->dram_write) {
          for (unsigned l = 0; l < top->dram_count; l++) {
            uint64_t a = static_cast<uint64_t>(top->dram_addr) + l;
            if (a >= mem[region].size()) { std::fprintf(stderr, "DRAM read out of range\n"); return 3; }
            put_bits(top->dram_rdata, l * width[region], mem[region][a], width[region]);
          }
        }
        top->eval();
        if (top->dram_write) {
          for (unsigned l = 0; l < top->dram_count; l++) {
            uint64_t a = static_cast<uint64_t>(top->dram_addr) + l;
            if (a >= mem[2].size()) { std::fprintf(stderr, "DRAM write out of range\n"); return 3; }
            mem[2][a] = get_bits(top->dram_wdata, l * ib, ib);
          }
        }
        held = 0;
      } else {
        held++;
      }
    } else {
      held = 0;
    }
    tick();
  }
  FILE* out = std::fopen(argv[2], "w");
  std::fprintf(out, "cycles %llu\n", cycle);
  for (int c = 0; c < 32; c++) {
    top->cnt_sel = c;
    top->eval();
    std::fprintf(out, "%d %llu\n", c, static_cast<unsigned long long>(top->cnt_data));
  }
  for (auto w : mem[2]) std::fprintf(out, "%llx\n", static_cast<unsigned long long>(w));
  std::fclose(out);
  top->final();
#if VM_TRACE
  if (vcd) { vcd->close(); delete vcd; }
#endif
  delete top;
  return ok ? 0 : 1;
}
