; Definitions that become chunks. Decorators are found through the parent node.
(function_definition) @definition
(class_definition) @definition

; `if __name__ == "__main__":` at module level (the condition is checked in code).
(module
  (if_statement
    condition: (comparison_operator) @main.condition) @main.block)

; Parse errors, counted per file.
(ERROR) @error
