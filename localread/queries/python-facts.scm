; Statements and expressions the facts card reports, matched inside one chunk.
(return_statement) @return
(raise_statement) @raise
(attribute
  object: (identifier) @self.object
  attribute: (identifier) @self.name) @self.attribute
(function_definition) @nested
(class_definition) @nested
