// qappac scratchpad: a register file with one write port and one combinational read port.
// WIDTH, DEPTH and ADDR_W are always set by the instantiating module; the defaults only make
// the module elaborate on its own. ADDR_W must be max(1, clog2(DEPTH)).
module qappac_regfile #(
    parameter int WIDTH  = 1,
    parameter int DEPTH  = 1,
    parameter int ADDR_W = 1
) (
    input  logic              clk,
    input  logic              we,
    input  logic [ADDR_W-1:0] waddr,
    input  logic [ WIDTH-1:0] wdata,
    input  logic [ADDR_W-1:0] raddr,
    output logic [ WIDTH-1:0] rdata
);
  logic [WIDTH-1:0] mem[0:DEPTH-1];

  always_ff @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
  end

  assign rdata = mem[raddr];
endmodule
