import MultiLoop

extension TutorialExample {
    /// The tutorial's "yield & send": a consumer generator primed with `send(None)`, a producer
    /// generator that sends it 5, 4, 3... and yields its status, and a main loop that stops once
    /// the consumer says it has had enough.
    ///
    /// ```python
    /// def consumer():
    ///     status = True
    ///     while True:
    ///         # yield返回状态,并接收 send 参数 n
    ///         n = yield status
    ///         print("我拿到了{}!".format(n))
    ///         if n == 3:
    ///             status = False
    ///
    /// def producer(consumer):
    ///     n = 5
    ///     while n > 0:
    ///         # yield给主程序返回消费者的状态
    ///         yield consumer.send(n)
    ///         n -= 1
    ///
    /// c = consumer()
    /// c.send(None)
    /// p = producer(c)
    /// for status in p:
    ///     if status == False:
    ///         print("我只要3,4,5就行啦")
    ///         break
    /// ```
    ///
    /// Python's generators need no event loop; `Generator`'s body is a task of one, so the
    /// Swift runs inside `run`.
    static let send = TutorialExample(name: "send", section: "yield & send") { environment in
        @Sendable func consumer() -> Generator<Bool, Int, Void> {
            Generator { generator in
                var status = true
                while true {
                    // yield返回状态,并接收 send 参数 n
                    let n = try await generator.yield(status)
                    environment.print("我拿到了\(n.map { "\($0)" } ?? "None")!")
                    if n == 3 {
                        status = false
                    }
                }
            }
        }

        @Sendable func producer(_ consumer: Generator<Bool, Int, Void>) -> Generator<Bool, Void, Void> {
            Generator { generator in
                var n = 5
                while n > 0 {
                    // yield给主程序返回消费者的状态
                    guard case .yielded(let status) = try await consumer.send(n) else {
                        throw GeneratorError.stopIteration  // as Python's `consumer.send` would raise
                    }
                    try await generator.yield(status)
                    n -= 1
                }
            }
        }

        try EventLoop.run {
            let c = consumer()
            // 重要:将生成器的语句推进到第一个yield语句出现的位置,此时yield语句还没有被执行
            try await c.send(nil)
            let p = producer(c)
            for try await status in p {
                if status == false {
                    environment.print("我只要3,4,5就行啦")
                    break
                }
            }
        }
    }
}
