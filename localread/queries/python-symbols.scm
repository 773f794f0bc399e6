; Everything the symbol graph reads from a file, in one pass (graph/extract.py).
; Each pattern has a distinct first capture name; graph/extract.py dispatches on it.
; Scope and context intervals use the body block, so that parameters, defaults,
; decorators and base classes belong to the enclosing scope, as Python runs them.

; Calls: the callee expression and the argument list (or generator argument).
(call
  function: (_) @call.func
  arguments: (_) @call.args)

; Scopes.
(function_definition
  name: (identifier) @def.name
  parameters: (parameters) @def.params
  return_type: (_)? @def.returns
  body: (block) @def.body) @def

(class_definition
  name: (identifier) @class.name
  superclasses: (argument_list)? @class.bases
  body: (block) @class.body) @class

(module
  (if_statement
    condition: (comparison_operator) @main.cond
    consequence: (block) @main.body) @main)

; Bindings.
(assignment
  left: (_) @asg.left
  type: (_)? @asg.type
  right: (_)? @asg.right)

(augmented_assignment
  left: (_) @aug.left
  operator: _ @aug.op
  right: (_) @aug.right)

(named_expression
  name: (identifier) @walrus.name
  value: (_) @walrus.value)

(for_statement
  left: (_) @for.left
  right: (_) @for.right
  body: (block) @for.body) @for

(for_in_clause
  left: (_) @comp.left
  right: (_) @comp.right)

(with_item
  value: (as_pattern
    .
    (_) @with.value
    alias: (as_pattern_target) @with.alias))

(import_statement) @import
(import_from_statement) @import

(global_statement (identifier) @global)

(lambda parameters: (lambda_parameters) @lambda.params)

(except_clause
  (as_pattern
    alias: (as_pattern_target) @excalias))

(decorator . (_) @decorator)

; Facts.
(return_statement . (_) @return.value)

(raise_statement . (_) @raise.value)

(attribute
  object: (identifier) @self.obj
  attribute: (identifier) @self.attr
  (#eq? @self.obj "self"))

; Contexts of the call outline: the block a call sits in.
(if_statement consequence: (block) @if.body) @if
(elif_clause consequence: (block) @elif.body) @elif
(else_clause body: (block) @else.body) @else
(while_statement body: (block) @while.body) @while
(with_statement body: (block) @withs.body) @withs
(try_statement body: (block) @try.body) @try
(except_clause (block) @except.body) @except
(finally_clause (block) @finally.body) @finally
