// OrderedGraph: the oneTBB flow graph both pipelines run — an input node reading items in order,
// a limiter of in_flight items, parallel encoding, a sequencer restoring input order, a serial writer.
#pragma once
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/flow_graph.h>

#include <cstddef>
#include <exception>
#include <memory>
#include <vector>

#include "blt_core/pipeline/driven_run.hpp"

namespace blt {

// Item has a `uint64_t seq` numbering items in input order. next(Item&) fills an item and returns
// false at the end; encode(Item&) runs on any worker; write(Item&) runs serially, in seq order.
// Items are pooled in `owned` (in_flight + 1 buffers: the limiter's items and the reader's one in
// hand), so memory stays what the caller planned. next's exceptions fail the run and stop reading;
// encode and write keep their own errors (they know which item and offset to name).
template <class Item, class Next, class Encode, class Write>
void run_ordered_graph(RunControl& run, size_t in_flight, std::vector<std::unique_ptr<Item>>& owned,
                       Next&& next, Encode&& encode, Write&& write) {
  namespace flow = tbb::flow;
  tbb::concurrent_queue<Item*> free_items;
  while (owned.size() < in_flight + 1) owned.push_back(std::make_unique<Item>());
  for (auto& item : owned) free_items.push(item.get());
  flow::graph g(*run.ctx);
  flow::input_node<Item*> read_node(g, [&](tbb::flow_control& fc) -> Item* {
    try {
      Item* item = nullptr;
      if (!free_items.try_pop(item)) {
        // Cannot happen with in_flight + 1 buffers; stay correct if it ever does.
        owned.push_back(std::make_unique<Item>());
        item = owned.back().get();
      }
      if (next(*item)) return item;
      free_items.push(item);
    } catch (...) {
      run.fail(std::current_exception());
    }
    fc.stop();
    return nullptr;
  });
  flow::limiter_node<Item*> gate(g, in_flight);
  flow::function_node<Item*, Item*> encode_node(g, flow::unlimited, [&](Item* item) {
    encode(*item);
    return item;
  });
  flow::sequencer_node<Item*> order(g, [](Item* const& item) { return item->seq; });
  flow::function_node<Item*, flow::continue_msg> write_node(g, flow::serial, [&](Item* item) {
    write(*item);
    free_items.push(item);
    return flow::continue_msg();
  });
  flow::make_edge(read_node, gate);
  flow::make_edge(gate, encode_node);
  flow::make_edge(encode_node, order);
  flow::make_edge(order, write_node);
  flow::make_edge(write_node, gate.decrementer());
  read_node.activate();
  g.wait_for_all();
}

}  // namespace blt
