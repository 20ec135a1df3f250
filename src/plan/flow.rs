//! The control flow of a task, a flow, `on_start` or `on_stop` (issue 18, item 3), compiled once into a
//! [`Program`]: a flat list of [`Op`]s with jumps, which the engine runs with a program counter and a frame per
//! loop. No recursion at run time (so a user's future does not grow with nesting) and nothing parsed per request.
//!
//! A node of the scenario compiles to:
//! ```text
//! [Repeat/ForEach frame -> end]              repeat = N / for_each = "list"
//!   [Unless cond -> next]                    if = "..." (judged for each run, with the loop's variables)
//!   body: Request(step) | a block's nodes | Choose -> one branch each ending in Jump(after)
//!   [Think]                                  think = ...
//! next: [Next frame -> body]
//! [StopIf cond]                              stop_if = "..."
//! end:
//! ```

use super::Wait;
use super::cond::Cond;

/// One instruction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Runs the request `steps[i]`; its failure ends the program (failed).
    Request(usize),
    /// A pause (think time); `Wait::Pacing` never occurs here.
    Think(Wait),
    /// Goes on at `to` unless the condition holds.
    Unless {
        cond: Cond,
        to: usize,
    },
    /// Ends the program here (not a failure) when the condition holds.
    StopIf(Cond),
    /// Starts loop `frame` running its body `times` times; goes on at `end` when that is 0.
    Repeat {
        frame: usize,
        times: u32,
        end: usize,
    },
    /// Starts loop `frame` over the items of the list captured in slot `list` (taken as it is now); goes on at
    /// `end` when it is empty.
    ForEach {
        frame: usize,
        list: usize,
        end: usize,
    },
    /// The end of loop `frame`'s body: back to `body` while items are left.
    Next {
        frame: usize,
        body: usize,
    },
    /// Goes on at one of the targets, picked by weight: `(cumulative weight, target)`.
    Choose {
        branches: Vec<(u64, usize)>,
    },
    Jump(usize),
}

/// A compiled list of steps.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub ops: Vec<Op>,
}

impl Program {
    /// The single request of a program that is only that (the common case, which the engine runs directly).
    pub fn single(&self) -> Option<usize> {
        match self.ops.as_slice() {
            [Op::Request(i)] => Some(*i),
            _ => None,
        }
    }

    /// The program that runs these requests in order (what a list without control keys compiles to).
    pub fn sequence(steps: &[usize]) -> Program {
        Program {
            ops: steps.iter().map(|&s| Op::Request(s)).collect(),
        }
    }

    /// True when it is nothing but requests in order.
    pub fn is_sequence(&self) -> bool {
        self.ops.iter().all(|o| matches!(o, Op::Request(_)))
    }
}

/// The deepest nesting of blocks (`steps` within `steps`, `choose`) a scenario may have.
pub const MAX_DEPTH: usize = 5;
/// The most times `repeat` may run a node.
pub const MAX_REPEAT: i64 = 10_000;
