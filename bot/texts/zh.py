"""简体中文: every user-facing string of the bot, as key -> str.format template."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    # Welcome and consent -------------------------------------------------------------------
    "welcome": (
        "你好！只需一张正脸照和至少 {min_selfies} 张自拍，我就能按你选择的风格为你生成 "
        "{portraits} 张 AI 肖像。\n\n"
        "价格：{price} ⭐（Telegram Stars），每套付款一次。\n"
        "当前等待时间：{wait}。"
    ),
    "consent": (
        "在发送任何照片之前，请阅读以下内容并作出选择。\n\n"
        "用途：你的照片仅用于生成你的肖像。\n"
        "处理方：你的人脸照片由我们自己的服务器分析（人脸检测与人脸识别，然后生成图像）；"
        "除保存你所发内容的 Telegram 外，没有其他任何一方处理这些照片。\n"
        "保存内容：加密保存的照片 Telegram 文件引用，保存到肖像交付为止"
        "（如果你没有下单，最长 {intake_hours} 小时），以及付款记录。"
        "照片从不写入磁盘，也从不用于训练任何模型。\n"
        "你可以随时发送 /delete 删除全部数据。\n\n"
        "只限本人，只限成年人：请只发送你本人的照片，不要发送他人的照片。本服务仅面向成年人"
        "（18 岁及以上）：你需要在下方选择年龄段；在我们的人脸模型能估计年龄时，"
        "照片中的人看起来未满 18 岁的，会被拒绝。\n\n"
        "你是否同意为此目的处理你的人脸照片？如同意，请点击你的年龄段："
        "这也表示你确认所发照片都是你本人。"
    ),
    "consent_yes_18_29": "我同意 · 照片是我本人 · 18–29 岁",
    "consent_yes_30_49": "我同意 · 照片是我本人 · 30–49 岁",
    "consent_yes_50_plus": "我同意 · 照片是我本人 · 50 岁以上",
    "consent_under_18": "我未满 18 岁",
    "consent_no": "不同意",
    "consent_minor_refused": (
        "谢谢你告诉我们。本服务仅面向成年人（18 岁及以上），所以我不能为你生成肖像。"
        "除了这个决定，我们没有保存任何内容。"
    ),
    "consent_minor_has_data": (
        "本服务仅面向成年人（18 岁及以上），所以无法继续。请删除你发给我们的内容："
    ),
    "consent_renew": (
        "我们的照片政策已更新（当前版本 {version}）。在发送更多照片之前，请重新阅读并同意。"
        "已付款的订单不受影响。"
    ),
    "consent_outdated": "这份政策页面已过期，以下是当前版本。",
    "privacy_own_face": (
        "只限本人，只限成年人：同意时，你确认照片是你本人，并选择你的年龄段；我们把这些与你的"
        "同意记录一起保存（政策版本、你所同意文本的哈希值、时间）。本服务仅面向成年人："
        "选择“我未满 18 岁”即到此为止，除这个决定外不保存任何内容。每张自拍都会与你的正脸照"
        "比对：如果是别人，或者无法完成比对，就会被拒绝。在我们的人脸模型能估计年龄时（并非每套"
        "模型都能），人脸被估计为明显未满 18 岁的照片会被拒绝；否则以你选择的年龄段为准。\n"
        "政策变更：本政策版本变更后，我们会在接收任何新照片之前重新征求你的同意；已付款的订单"
        "会按原约定完成。"
    ),
    "consent_given": (
        "✅ 你已于 {date} 同意照片政策（版本 {version}）：你发送的照片是你本人，"
        "你的年龄段是 {age}。/privacy 可再次查看政策；/delete 可删除全部内容。"
    ),
    "consent_declined_on": "✖ 你已于 {date} 拒绝。",
    "consent_declined": (
        "好的：除了你的这个决定，我们没有保存任何内容。如果改变主意，请发送 /start。"
    ),
    "consent_needed": (
        "在你同意照片政策之前，我不能接收照片。这张照片没有被保存。发送 /start 查看政策。"
    ),
    "ask_headshot": (
        "第 1 步（共 3 步）：发送一张正脸照：只有你一个人，看向镜头，光线充足，不戴墨镜。"
    ),
    "resume_headshot": "你在第 1 步：请发送正脸照。",
    "resume_selfies": "你在第 2 步：请继续发送自拍（目前已通过 {accepted}/{needed} 张）。",
    "resume_style": "你在第 3 步：请选择风格（发送 /start 可再次显示列表）。",
    "resume_payment": "付款后即可进入队列（发送 /start 可重新发送付款单）。",
    "resume_style_below": "你在第 3 步：请在下方列表中选择风格。",
    "resume_payment_again": "已在上方重新发送你的付款单，付款后即可进入队列。",
    "resume_paid": "你的订单已付款并在队列中。发送 /status 查看进度。",
    # Headshot --------------------------------------------------------------------------------
    "headshot_checking": "收到，正在检查你的正脸照……",
    "headshot_pending": "我还在检查你的正脸照，请等待结果。",
    "headshot_accepted": (
        "你的正脸照已通过。✅\n\n"
        "第 2 步（共 3 步）：发送 {min_selfies} 到 {max_selfies} 张自拍：不同角度、地点和光线。"
        "可以逐张发送、以相册发送，或作为图片文件发送。"
        "我会在收下的每张自拍上标 👍，无法使用的标 👎（原因列在下方）。"
    ),
    "headshot_rejected": "这张正脸照无法使用：{reason}\n请再发送一张。",
    # Selfies ---------------------------------------------------------------------------------
    "status_title": "你的自拍",
    "status_accepted": "已通过：{accepted}/{needed}",
    "status_pending": "检查中：{pending}",
    "status_rejected_title": "无法使用（每张都在你的照片上标了 👎）：",
    "status_rejected_line": "• {reason}：{count}",
    "status_ready": "数量已足够。发送完所有想发的照片后，请点击“完成”。",
    "status_more": "还需要 {missing} 张。",
    "status_done": "完成：已通过 {accepted} 张自拍。",
    "done_button": "完成 ✅",
    "not_enough_selfies": "还不够：已通过 {accepted}/{needed} 张自拍。",
    "selfies_full": "自拍已达上限 {max_selfies} 张，这张没有被添加。",
    "too_many_rejected": "无法使用的照片太多。发送 /cancel 重新开始，或发送 /help。",
    "duplicate_photo": "你已经发送过这张照片，只计算一次。",
    # Bad input -------------------------------------------------------------------------------
    "text_instead_of_headshot": "这里需要照片而不是文字：请发送你的正脸照。",
    "text_instead_of_selfies": (
        "这里需要照片而不是文字：请发送自拍（已通过 {accepted}/{needed} 张）。"
    ),
    "text_no_order": "发送 /start 开始。",
    "document_not_image": "这个文件不是可用的图片。请发送照片，或 JPEG/PNG/WebP 文件。",
    "document_too_large": "文件太大（上限 {limit_mb} MB）。请发送更小的照片。",
    "animation_refused": "动图和 GIF 无法使用。请发送静态照片。",
    "video_refused": "视频无法使用。请发送静态照片。",
    "sticker_refused": "贴纸无法使用。请发送你本人的真实照片。",
    "photo_after_flow": "你的照片已经齐全，这个订单不再需要更多照片。{hint}",
    "photo_after_paid": "你的订单已付款并在队列中，新照片不会加入该订单。发送 /status 查看进度。",
    "photo_no_order": "请先发送 /start。",
    # Photo refusal reasons (decoding, then face checks) ----------------------------------------
    "reason_empty": "文件是空的",
    "reason_too_large_bytes": "文件太大",
    "reason_not_an_image": "这不是图片",
    "reason_unsupported_format": "不支持该图片格式（请使用 JPEG、PNG、WebP 或 HEIC）",
    "reason_decompression_bomb": "图片过大，无法安全打开",
    "reason_too_many_pixels": "图片像素过多",
    "reason_too_small": "图片太小",
    "reason_animated": "这是动图",
    "reason_corrupt": "图片已损坏",
    "reason_download_failed": "无法从 Telegram 下载",
    "reason_no_face": "没有找到人脸",
    "reason_multiple_faces": "不止一张人脸",
    "reason_face_too_small": "人脸太小",
    "reason_not_frontal": "侧脸角度过大",
    "reason_blurry": "太模糊",
    "reason_too_dark": "太暗",
    "reason_too_bright": "太亮",
    "reason_different_person": "看起来不像正脸照中的人",
    "reason_duplicate": "与另一张照片几乎相同",
    "reason_minor": "照片中的人看起来未满 18 岁，我们只用成年人本人的照片生成肖像",
    "reason_identity_unverified": "暂时无法确认这是正脸照中的同一个人，请稍后再发一次",
    "reason_other": "无法使用",
    # Style packs -----------------------------------------------------------------------------
    "choose_style": "第 3 步（共 3 步）：选择一个风格。",
    "style_line": "• {name}：{description}",
    "style_chosen": "风格：{name}。这是你的付款单。",
    "samples_button": "🖼 查看样图",
    "sample_caption": "“{name}”的样图（并非用你的照片生成）",
    # Payment ---------------------------------------------------------------------------------
    "invoice_title": "肖像套装",
    "invoice_description": "{portraits} 张你的 AI 肖像，风格“{pack}”。",
    "invoice_label": "{portraits} 张肖像",
    "precheckout_forged": "这张付款单无效。请使用聊天中最新的付款单。",
    "precheckout_wrong_user": "这张付款单属于其他人。",
    "precheckout_not_payable": "这个订单已无法付款（已取消或已付款）。请发送 /start。",
    "precheckout_amount": "这张付款单的价格已变更。请使用最新的付款单。",
    "precheckout_replaced": "这张付款单对应的风格已被你更换。请支付聊天中最新的付款单。",
    "pay_button": "支付 {price} ⭐",
    "change_style_button": "更换风格",
    "style_change_open": "请在下方选择其他风格；你的照片会保留。",
    "precheckout_unlicensed": (
        "付款已暂停：本服务使用的模型文件的许可不允许付费使用（{files}）。未扣款。"
    ),
    "payment_received": (
        "已收到付款，谢谢！⭐\n"
        "你在队列中的位置：{position}。预计时间：{eta}。\n"
        "肖像完成后会发送到这里；发送 /status 查看进度。"
    ),
    "payment_received_running": "已收到付款，谢谢！⭐ 你的肖像正在生成。",
    "payment_refunded": "你的付款到达之前，这个订单已被取消，因此你的 {amount} ⭐ 将自动退还。",
    "payment_refunded_unknown": (
        "这笔付款没有对应的待付款订单（可能是同一订单的重复付款），"
        "因此你的 {amount} ⭐ 将自动退还。"
    ),
    "payment_unconfirmed": (
        "Telegram 尚未向我们确认这笔付款。如果付款成功，你的订单会在几分钟内自动开始，"
        "我们会在这里通知你；如果付款未成功，则没有任何扣款。如无动静，请发送 /paysupport。"
    ),
    # Commands --------------------------------------------------------------------------------
    "cmd_start": "开始或继续",
    "cmd_status": "查看订单进度",
    "cmd_cancel": "重新上传照片",
    "cmd_help": "使用说明",
    "cmd_privacy": "隐私政策",
    "cmd_paysupport": "付款与退款",
    "cmd_language": "语言",
    "cmd_delete": "删除我的全部数据",
    "cmd_mydata": "查看我的数据",
    "help": (
        "使用说明：\n"
        "1. 发送 /start 并同意照片政策（仅限成年人：你需要选择年龄段）。\n"
        "2. 发送一张正脸照。\n"
        "3. 发送 {min_selfies}–{max_selfies} 张自拍，然后点击“完成”。\n"
        "4. 选择风格并支付 {price} ⭐。\n"
        "5. 你的 {portraits} 张肖像会发送到这里。\n\n"
        "只限本人照片：与正脸照不像同一个人的自拍会被拒绝；"
        "在我们的人脸模型能估计年龄时，人脸看起来未满 18 岁的照片也会被拒绝。\n\n"
        "/status：订单进度 · /cancel：重新上传照片 · /language：语言 · /privacy · "
        "/paysupport · /delete · /mydata"
    ),
    "privacy": (
        "隐私政策（版本 {version}）\n\n"
        "处理内容：一张正脸照和你的自拍，仅用于生成你订购的肖像，并且仅在你同意之后。\n"
        "处理方式：照片从 Telegram 下载到我们服务器的内存中进行检查和生成，从不写入磁盘。"
        "人脸特征（嵌入向量）只在内存中计算，从不保存。\n"
        "保存内容：照片的 Telegram 文件引用，用只属于你的密钥加密。"
        "以下内容以明文保存，因为排队、退款和我们的修复任务必须在没有你的密钥时读取它们："
        "你的订单进度（状态、风格套餐、价格、照片数量、消息编号）"
        "及你的 Telegram 用户 ID 和聊天 ID、你的同意记录和语言、你最后一次发消息的时间，"
        "以及你要求保留的照片保留到何时。"
        "付款记录（交易编号、你的 Telegram 用户 ID、金额、币种、日期、结果），"
        "用于退款、争议处理和记账。\n"
        "保存期限：照片引用在交付时删除（除非你在交付前按下“保留我的照片”：那样你已通过检查的照片"
        "会按该按钮写明的天数保留，到期时、在 /mydata 中按“不再保留”时或 /delete 时删除）；"
        "如果你没有付款，则在最后一次上传 {intake_hours} "
        "小时后删除。订单详情在 {order_days} 天后仅保留付款记录；从那时起以及在 /delete 之后，"
        "付款记录不再指向订单，因此无法通过它把肖像追溯到你。"
        "付款记录在付款 {ledger_days} 天后删除。"
        "如果你 {idle_days} 天没有给我们发送任何内容，我们会像 /delete 一样删除你的数据，"
        "除非我们仍欠你肖像或退款。\n"
        "训练：你的照片和肖像从不用于训练任何模型。\n"
        "处理方：只有我们自己的服务器处理你的照片。\n"
        "你的权利：/mydata 查看我们保存的数据；/delete 删除全部数据（未交付的已付款订单将退款），"
        "随后我们的数据库文件会被重写，被删除的数据也会离开我们的磁盘，通常在一分钟内完成。"
        "问题请联系 {support}。"
    ),
    "paysupport": (
        "付款与退款\n\n"
        "照片通过后，每套肖像支付一次 {price} ⭐。\n"
        "如果我们未能生成你的肖像，Stars 会自动退还。\n"
        "如果你在交付前用 /delete 删除数据，付款会被退还。\n"
        "其他问题请联系 {support} 并注明付款日期；我们会在 2 天内回复。"
    ),
    "choose_language": "请选择语言：",
    "language_set": "语言：简体中文。",
    "status_none": "你还没有订单。发送 /start 开始。",
    "status_order": "订单 {order_id}：{state}。",
    "status_photos": "正脸照：{headshot}。自拍：已通过 {accepted} 张，检查中 {pending} 张，"
    "无法使用 {rejected} 张。",
    "status_queue": "队列位置：{position}。预计时间：{eta}。",
    "status_progress": "进度：{done}/{total} 张肖像。",
    "state_headshot": "等待正脸照",
    "state_selfies": "正在收集自拍",
    "state_style": "等待选择风格",
    "state_payment": "等待付款",
    "state_paid": "已付款，排队中",
    "state_rendering": "正在生成肖像",
    "state_delivered": "已交付",
    "state_failed": "失败（正在退款）",
    "state_refunded": "已退款",
    "state_cancelled": "已取消",
    "headshot_none": "未发送",
    "headshot_pending_short": "检查中",
    "headshot_accepted_short": "已通过",
    "headshot_rejected_short": "无法使用",
    "cancelled": "已取消。该订单的照片已删除；你的同意记录仍然保留。",
    "cancel_nothing": "没有可以取消的内容。发送 /start 开始。",
    "cancel_paid": (
        "你的订单已付款，/cancel 无法停止。如需退款，请使用 /delete 或查看 /paysupport。"
    ),
    # Buttons and errors ----------------------------------------------------------------------
    "button_stale": "这个按钮已过期。",
    "button_not_yours": "这不是你的按钮。",
    "button_already_done": "已经完成。",
    "slow_down": (
        "你发送得太快了，最近的几条我先放下了。请等大约 {seconds} 秒再继续，那时我会再回复你。"
    ),
    "error_generic": "抱歉，我们这边出了点问题。请一分钟后再试。",
    # Durations -------------------------------------------------------------------------------
    "eta_none": "无需等待",
    "eta_minutes": "约 {minutes} 分钟",
    "eta_hours": "约 {hours} 小时 {minutes} 分钟",
    "other_message_refused": "我只能处理照片和少数命令。发送 /help 查看下一步怎么做。",
    "bot_description": (
        "Portrait Studio 用一张正面头像和几张自拍，按你选择的风格生成你的 AI 肖像，"
        "使用 Telegram Stars ⭐ 付款。你的照片加密保存，交付后删除"
        "（除非你要求保留几天以换一种风格）；/privacy 说明详情，/delete 删除全部数据。"
    ),
    "bot_short_description": "用头像和自拍生成你的 AI 肖像，使用 ⭐ Stars 付款。",
    "eta_offline": "暂时无法估计：目前没有在线的肖像生成服务（你的位置会保留）",
    # Privacy: /delete and /mydata ----------------------------------------------------------
    "delete_confirm": (
        "确定删除你的全部数据吗？\n\n"
        "这会删除你照片的文件引用、你的订单、你的同意记录和设置，并销毁你的加密密钥；"
        "随后我们的数据库文件会被重写，其中的任何副本都将无法再被读取（通常在一分钟内）。"
        "正在进行的生成会被停止，已付款但尚未交付的订单会自动退款。\n"
        "保留：仅保留用于退款、争议处理和记账的付款记录"
        "（交易编号、你的 Telegram 用户 ID、金额、币种、日期、结果），"
        "保存到付款后 {ledger_days} 天。"
        "其中不含任何照片、姓名或订单详情。\n"
        "撤回同意的效果与此相同。"
    ),
    "withdraw_consent": "撤回同意并删除我的数据",
    "delete_yes": "全部删除",
    "delete_no": "保留我的数据",
    "delete_kept": "没有删除任何内容。",
    "delete_done": (
        "已完成。已删除：{orders} 个订单、{photos} 个照片引用、你的同意记录、设置和加密密钥。"
        "已退款：{refunded} ⭐。保留：{ledger} 条不含照片和姓名的付款记录。"
        "如果以后想重新开始，请发送 /start。"
    ),
    "mydata_caption": (
        "这是 Portrait Studio 保存的关于你的全部数据（JSON 格式）。照片本身从不保存："
        "在交付之前（如果你要求保留，则到保留期结束）只保存加密的 Telegram 文件引用。"
    ),
    # Render and delivery ---------------------------------------------------------------------
    "queue_notice": "你在队列中排第 {position} 位。预计时间：{eta}。",
    "render_progress": "正在生成你的肖像：{done}/{total}",
    "album_caption": "你的肖像 {first}–{last}，共 {total} 张",
    "document_caption": "肖像 {number}/{total}，高清原图",
    "render_delivered": "全部 {total} 张肖像已送达。感谢使用 Portrait Studio！",
    "documents_caption": "肖像 {first}–{last}，共 {total} 张，高清原图（PNG 文件，.zip 压缩包）",
    "render_sending": "你的 {total} 张肖像已生成，正在发送…",
    "render_handed_over": "你的 {total} 张肖像已生成，即将发送…",
    "button_another_style": "换一种风格",
    "button_originals_again": "重新发送高清原图",
    "originals_again_none": "上一单的高清原图已无法重新发送。发送 /start 开始新的一组。",
    # 自愿保留：交付后保留已通过检查的照片，以便换一种风格 -----------------------------------
    "keep_offer": (
        "以后想换一种风格而不必再发一次照片吗？在交付前按下面的按钮，我会在交付后把你已通过检查的"
        "照片（正脸照和已接受的自拍，加密保存）保留 {days} 天；否则照片照常在交付时删除。"
        "/mydata 可以查看它们，/delete 随时可以删除它们。"
    ),
    "keep_button": "保留我的照片 {days} 天，用于换风格",
    "keep_button_undo": "✓ 将保留我的照片 {days} 天（点此取消）",
    "keep_on": "交付后我会把你已通过检查的照片保留 {days} 天。",
    "keep_off": "你的照片将在交付时删除。",
    "keep_too_late": "你的肖像已经交付，照片已在交付时删除。",
    "kept_after_delivery": (
        "你已通过检查的照片已加密保留，直到 {until}：按“换一种风格”即可下单，无需再发照片。"
        "/mydata 可以查看，/delete 可以删除。"
    ),
    "reuse_started": (
        "正在使用你保留的照片（你的正脸照和 {selfies} 张自拍，保留到 {until}）：无需再发一次。"
    ),
    "kept_photos_gone": (
        "你保留的照片已不在了：保留期结束（或按你的要求）时已被删除。请发送新的照片。"
    ),
    "mydata_kept": (
        "你已通过检查的照片保留到 {until}，用于换一种风格。按下面的按钮可立即删除它们。"
    ),
    "kept_stop_button": "不再保留我的照片",
    "kept_stopped": "已完成：你保留的照片已删除，你的订单在交付后都不会再保留照片。",
    "kept_stop_none": "我们没有保留你的任何照片。",
    "delivery_failed": "很抱歉：部分肖像无法发送到此对话。你的订单正在退款。",
    "refund_apology": (
        "非常抱歉，这次未能为你生成肖像。你支付的 {amount} 颗星已退还。欢迎换一些照片再试一次。"
    ),
    # /admin（仅限运营人员：ADMIN_USER_IDS）。只有数字，不含任何用户信息。
    "admin_refused": "此命令仅供本机器人的运营人员使用。",
    "admin_sources": "/start 来源（深度链接，前 {top} 个）：{sources}",
    "admin_sources_none": "暂无",
    "admin_title": "运营概览，{time} UTC",
    "admin_queues": "等待中：{intake} 张照片待检查，{render} 单待生成，{delivery} 单待发送",
    "admin_workers": "在线生成进程：{workers}",
    "admin_orders": "当前待处理：{paid} 单已付款，{rendering} 单生成中，{failed} 单失败（待退款）",
    "admin_today": (
        "今日：{paid} 单付款，{delivered} 单已交付，{failed} 单失败，{refunded} 单已退款"
    ),
    "group_private_only": "我只在私聊中工作，这样你的照片才能保持私密：{link}",
    "reason_unreadable": "我无法读取这张照片",
}
